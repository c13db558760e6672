//! Entry point: parse the command line, run, print any error once with its hint, exit with its code
//! (every code is named in `error::ExitCode`; `app::run` returns it, or a hook's child's status).

fn main() {
    // Few malloc arenas (glibc): memory stays bounded by what is in flight, not by how many threads touched it.
    git_publish::os::tune_allocator();
    // SAFETY: no other thread exists yet.
    unsafe {
        git_publish::source::configure_libgit2();
    }
    let cli = git_publish::cli::Cli::parse();
    let code = git_publish::app::run(cli);
    std::process::exit(code);
}
