//! Runs a parsed command line: logging, the async runtime, opening the [`Session`], dispatch to `cmd::*::run`
//! or `hooks::*`, and the exit code. Errors are printed once, with their hint, by `error::report`.
//! It holds no command's logic: a new command gets its file in `cmd/` and one line in `dispatch`.

use crate::cli::{Cli, ColorChoice, Command};
use crate::cmd;
use crate::error::{Error, ExitCode, Result};
use crate::hooks;
use crate::publish::Session;
use crate::ui::{Ui, Verbosity};

pub fn run(cli: Cli) -> i32 {
    init_logging(cli.global.verbose);
    let verbosity = if cli.global.quiet {
        Verbosity::Quiet
    } else if cli.global.verbose > 0 {
        Verbosity::Verbose
    } else {
        Verbosity::Normal
    };
    let color = match cli.global.color {
        ColorChoice::Auto => None,
        ColorChoice::Always => Some(true),
        ColorChoice::Never => Some(false),
    };
    let ui = Ui::new(verbosity, cli.global.json, color);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        // Blob reads and local writes are short; a small blocking pool keeps memory flat under load (each
        // extra thread can bring its own malloc arena).
        .max_blocking_threads(8)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return crate::error::report(&Error::io("starting the async runtime", e)),
    };
    match runtime.block_on(dispatch(cli, ui)) {
        Ok(code) => code,
        Err(e) => crate::error::report(&e),
    }
}

async fn dispatch(cli: Cli, ui: Ui) -> Result<i32> {
    let cwd = match &cli.global.dir {
        Some(d) => d.clone(),
        None => {
            std::env::current_dir().map_err(|e| Error::io("reading the current directory", e))?
        }
    };
    let config = cli.global.config;
    let open = |ui| Session::open(&cwd, config.clone(), ui);
    let code = match cli.command {
        None => cmd::publish::run(&open(ui)?, &cli.publish).await?,
        Some(Command::Publish(args)) => cmd::publish::run(&open(ui)?, &args).await?,
        Some(Command::Status { target }) => cmd::status::run(&open(ui)?, target.as_deref()).await?,
        Some(Command::Log { target }) => cmd::log::run(&open(ui)?, target.as_deref()).await?,
        Some(Command::Rollback(args)) => cmd::rollback::run(&open(ui)?, &args).await?,
        Some(Command::Redirects { target }) => {
            cmd::redirects::run(&open(ui)?, target.as_deref()).await?
        }
        Some(Command::CdnFunction { target, print }) => match print {
            true => cmd::redirects::print_function(&open(ui)?, target.as_deref()).await?,
            false => cmd::redirects::report(&open(ui)?, target.as_deref()).await?,
        },
        Some(Command::Preview(args)) => cmd::preview::run(&open(ui)?, &args).await?,
        // ---- publish on push (src/hooks/) ----
        Some(Command::Install(args)) => return hooks::install(&open(ui)?, &cwd, config, &args),
        Some(Command::Uninstall) => return hooks::uninstall(&cwd, &ui),
        Some(Command::Push { args }) => return hooks::push(&open(ui)?, &args).await,
        Some(Command::Retry(a)) => return hooks::retry(&open(ui)?, a.force).await,
        Some(Command::Hook(args)) => return hooks::hook(&cwd, ui, args).await,
        // ---- least-privilege policy, init, man page, completions ----
        Some(Command::Doctor { target, site_url }) => {
            cmd::doctor::run(&open(ui)?, target.as_deref(), site_url.as_deref()).await?
        }
        Some(Command::IamPolicy { target, bucket, .. }) if bucket.bucket_policy => {
            cmd::bucket_policy::run(&open(ui)?, target.as_deref(), &bucket)?
        }
        Some(Command::IamPolicy {
            target, previews, ..
        }) => cmd::iam::run(&open(ui)?, target.as_deref(), previews)?,
        Some(Command::Setup(args)) => cmd::setup::run(&open(ui)?, &args).await?,
        Some(Command::Demo { dir }) => cmd::demo::run(&cwd, dir, ui).await?,
        Some(Command::Init(args)) => {
            cmd::init::run(&cwd, config, args, &ui).await?;
            ExitCode::Success
        }
        Some(Command::Man { install, man_dir }) => {
            cmd::man::run(install, man_dir, &ui)?;
            ExitCode::Success
        }
        Some(Command::Completions { shell }) => {
            cmd::man::completions(shell);
            ExitCode::Success
        }
    };
    Ok(code.into())
}

fn init_logging(verbose: u8) {
    let filter = match verbose {
        0 | 1 => "error,git_publish=warn",
        2 => "error,git_publish=debug",
        _ => "info,git_publish=trace,aws_smithy_runtime=debug,aws_config=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("GIT_PUBLISH_LOG")
        .unwrap_or_else(|_| filter.into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}
