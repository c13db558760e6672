//! Maps the parsed command line onto the pipeline: logging, the async runtime, the session, the command,
//! and the exit code. Errors are printed here, once, with their hint.

use crate::cli::{Cli, ColorChoice, Command, PublishArgs};
use crate::error::{exit, Error, Result};
use crate::hooks;
use crate::publish::{self, Session};
use crate::settings::{publish_opts, Invocation};
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
    let json = cli.global.json;
    match cli.command {
        None => {
            run_publish(
                Session::open(&cwd, cli.global.config, ui)?,
                cli.publish,
                json,
            )
            .await
        }
        Some(Command::Publish(args)) => {
            run_publish(Session::open(&cwd, cli.global.config, ui)?, args, json).await
        }
        Some(Command::Status { target }) => {
            let s = Session::open(&cwd, cli.global.config, ui)?;
            let list = publish::status(&s, target.as_deref()).await?;
            if json {
                s.ui.json(&list);
            } else {
                publish::render_status(&s, &list);
            }
            Ok(exit::OK)
        }
        // ---- publish on push (src/hooks.rs) ----
        Some(Command::Install(args)) => {
            let s = Session::open(&cwd, cli.global.config.clone(), ui)?;
            hooks::install(&s, &cwd, cli.global.config, &args)
        }
        Some(Command::Uninstall) => hooks::uninstall(&cwd, &ui),
        Some(Command::Push { args }) => {
            hooks::push(&Session::open(&cwd, cli.global.config, ui)?, &args).await
        }
        Some(Command::Retry) => hooks::retry(&Session::open(&cwd, cli.global.config, ui)?).await,
        Some(Command::Hook(args)) => hooks::hook(&cwd, ui, args).await,
        // ---- least-privilege policy, init, man page, completions (src/cmd/) ----
        Some(Command::IamPolicy { target }) => crate::cmd::iam::run(
            &Session::open(&cwd, cli.global.config, ui)?,
            target.as_deref(),
        ),
        Some(Command::Init(args)) => {
            crate::cmd::init::run(&cwd, cli.global.config, args, &ui).await?;
            Ok(exit::OK)
        }
        Some(Command::Man { install, man_dir }) => {
            crate::cmd::man::run(install, man_dir, &ui)?;
            Ok(exit::OK)
        }
        Some(Command::Completions { shell }) => {
            crate::cmd::man::completions(shell);
            Ok(exit::OK)
        }
        Some(Command::Log { target }) => {
            let s = Session::open(&cwd, cli.global.config, ui)?;
            let log = publish::log(&s, target.as_deref()).await?;
            if json {
                s.ui.json(&log);
            } else {
                publish::render_log(&s, &log);
            }
            Ok(exit::OK)
        }
        Some(Command::Rollback(a)) => {
            let s = Session::open(&cwd, cli.global.config, ui)?;
            let report = publish::rollback(&s, &a).await?;
            if json {
                s.ui.json(&report);
            }
            Ok(exit::OK)
        }
    }
}

async fn run_publish(s: Session, a: PublishArgs, json: bool) -> Result<i32> {
    let opts = publish_opts(Invocation::Cli(&a));
    let report = publish::publish(&s, &opts).await?;
    crate::records::clear_failure_if_covered(
        &s.repo,
        &report.target,
        &report.commit,
        report.dry_run,
    );
    if json {
        s.ui.json(&report);
    }
    Ok(exit::OK)
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
