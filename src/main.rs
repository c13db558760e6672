//! Entry point: parse the command line, run, print any error once with its hint, exit with its code.

use clap::Parser;

fn main() {
    let cli = git_publish::cli::Cli::parse();
    let code = git_publish::app::run(cli);
    std::process::exit(code);
}
