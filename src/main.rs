//! Entry point: parse the command line, run, print any error once with its hint, exit with its code
//! (every code is named in `error::ExitCode`; `app::run` returns it, or a hook's child's status).

fn main() {
    // Few malloc arenas: memory stays bounded by what is in flight, not by how many threads touched the heap.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt is called once, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    // SAFETY: no other thread exists yet.
    unsafe {
        git_publish::source::configure_libgit2();
    }
    let cli = git_publish::cli::Cli::parse();
    let code = git_publish::app::run(cli);
    std::process::exit(code);
}
