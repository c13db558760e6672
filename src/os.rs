//! What differs between operating systems, in one place: nothing outside this module uses `std::os::unix`,
//! `libc` or `/proc`.

/// Give files that `builder` creates the mode of a published file: 0666, or 0777 for git's executables (mode
/// 100755), which the process's umask then narrows as for any new file (0644 / 0755 under umask 022), instead
/// of tempfile's private 0600. Windows has no such bits: nothing to do.
pub fn published_file_mode(builder: &mut tempfile::Builder<'_, '_>, executable: bool) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = if executable { 0o777 } else { 0o666 };
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = (builder, executable);
}
