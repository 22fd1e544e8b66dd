#!/bin/sh
# Seeds the fuzz corpora from what `cargo xtask build` built: every object
# (Rust examples, test programs, clang-built C objects) for `object` and
# `section_renamer`, their `.BTF` sections for `btf`, their code for
# `placeholder_patcher` and `source_map`, and the error catalogue's
# verifier logs for `verifier_log`, the USDT target's notes for
# `usdt_notes`. Run from the repository root.
set -eu
objects=target/bpf/bpfel-unknown-none/release
corpus=fuzz/corpus
mkdir -p "$corpus/object" "$corpus/section_renamer" "$corpus/btf" \
    "$corpus/placeholder_patcher" "$corpus/source_map" "$corpus/verifier_log" \
    "$corpus/usdt_notes"
for path in "$objects"/*; do
    [ -f "$path" ] || continue
    case "$path" in *.d) continue ;; esac
    head -c 4 "$path" | grep -q ELF || continue
    name=$(basename "$path")
    cp "$path" "$corpus/object/$name"
    cp "$path" "$corpus/section_renamer/$name"
    llvm-objcopy-22 --dump-section ".BTF=$corpus/btf/$name" "$path" /dev/null 2>/dev/null || true
    for section in $(llvm-objdump-22 -h "$path" | awk '$2 ~ /^(xdp|tc|classifier|tracepoint|kprobe|uprobe|raw_tracepoint|\.text)/ {print $2}' | head -3); do
        llvm-objcopy-22 --dump-section "$section=$corpus/placeholder_patcher/$name-$(echo "$section" | tr / _)" "$path" /dev/null 2>/dev/null || true
    done
    # source_map: the lengths of the parts (record sizes, code, func info,
    # line info), then the parts, the BTF last.
    code=$(ls "$corpus/placeholder_patcher/$name-"* 2>/dev/null | head -1)
    if [ -n "$code" ] && [ -f "$corpus/btf/$name" ]; then
        python3 -c 'import sys,struct
code=open(sys.argv[1],"rb").read()[:4096]
btf=open(sys.argv[2],"rb").read()
fi=struct.pack("<II",0,1)
li=struct.pack("<IIII",0,0,0,(10<<10)|5)
sys.stdout.buffer.write(struct.pack("<HHHH",2,len(code),len(fi),len(li))+bytes([8,16])+code+fi+li+btf)' "$code" "$corpus/btf/$name" > "$corpus/source_map/$name"
    fi
done
# usdt_notes: the USDT test target's notes, and specs of every shape.
llvm-objcopy-22 --dump-section ".note.stapsdt=$corpus/usdt_notes/usdt_target" \
    "$objects/usdt_target" /dev/null 2>/dev/null || true
printf '%s' '-1@%al 2@%r8w -4@$-7 8@-24(%rbp) 1@-96(%rbp,%rax,8)' > "$corpus/usdt_notes/specs"
for log in iu/tests/errors/*.txt; do
    cp "$log" "$corpus/verifier_log/$(basename "$log")"
done
find "$corpus" -type f -empty -delete
