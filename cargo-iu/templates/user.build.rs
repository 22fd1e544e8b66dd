//! Builds ../{{name}}-ebpf for bpfel-unknown-none (with iu's checks) and
//! hands the object to this crate as `IU_OBJECT_{{NAME}}`.

fn main() {
    let program = iu_build::ProgramCrate::new("../{{name}}-ebpf");
    if let Err(e) = iu_build::build_program(&program) {
        eprintln!("error: building {{name}}-ebpf: {e}");
        std::process::exit(1);
    }
}
