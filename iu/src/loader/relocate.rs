//! Stage 7: relocate. Map references get the maps' descriptors, calls
//! between functions are linked into each program, and instructions the
//! kernel lacks are sanitized away (aya-obj's relocation, with iu's
//! no-return fixup first).

use std::collections::HashSet;

use aya_obj::Object;

use crate::{
    error::{Error, Result, chain},
    features,
    validate::guarded,
};

/// Writes each map's descriptor (`fd_of` its name; maps without one are
/// left alone, as the maps stage skips them) into the instructions that
/// refer to it, and links every program's calls.
pub(super) fn link(obj: &mut Object, fd_of: impl Fn(&str) -> Option<i32>) -> Result<()> {
    let text_sections: HashSet<usize> = obj.functions.keys().map(|(s, _)| *s).collect();
    let maps = obj.maps.clone();
    let fds: Vec<(&str, i32, &aya_obj::Map)> = maps
        .iter()
        .filter_map(|(name, map)| Some((name.as_str(), fd_of(name)?, map)))
        .collect();
    guarded("relocating map references", || {
        obj.relocate_maps(fds.into_iter(), &text_sections)
    })?
    .map_err(|e| Error::Relocation(chain(&e)))?;
    guarded("linking functions", || {
        crate::placeholders::end_noreturn_functions(obj);
        obj.relocate_calls(&text_sections)
    })?
    .map_err(|e| Error::Relocation(chain(&e)))
}

/// Replaces what the running kernel does not have (helpers, instructions)
/// in every function.
pub(super) fn sanitize(obj: &mut Object) -> Result<()> {
    guarded("sanitizing functions", || {
        obj.sanitize_functions(features::object_features())
    })
}
