//! One file per command, each with one `run` function that takes the command's arguments and an open
//! [`Session`](crate::publish::Session) (or what it needs before one exists: `init`, `man`) and returns the exit
//! code. A command module prints its result (human or `--json`) and calls into the publish core, `state` and
//! `records`; it does not open the session (except `demo`, whose repository does not exist until it makes it),
//! set up logging or the runtime (that is `app`'s), and no command
//! module imports another's internals except to reuse its reading step (`rollback` reads the `log`).

pub mod bucket_policy;
pub mod demo;
pub mod doctor;
pub mod iam;
pub mod init;
pub mod log;
pub mod man;
pub mod preview;
pub mod publish;
pub mod redirects;
pub mod rollback;
pub mod setup;
pub mod status;
