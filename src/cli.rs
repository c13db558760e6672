//! Command-line definitions (clap derive). Raw flags only: `main` turns them into settings. One rule is
//! not clap's: everything after the `push` command goes to `git push` as it is (see [`Cli::parse`]).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "git-publish",
    version,
    // `--version` also names the project's home (Cargo.toml's `repository`), where releases and INSTALL.md are.
    long_version = concat!(env!("CARGO_PKG_VERSION"), "\n", env!("CARGO_PKG_REPOSITORY")),
    about = "Publish a static site committed in git to S3 + CloudFront (or a local directory): upload exactly the \
             diff, invalidate exactly what changed.",
    long_about = None,
    args_conflicts_with_subcommands = true,
    after_help = "Run as `git publish` (git finds git-publish on PATH). `git publish -h` shows this help; \
                  `git publish --help` opens the man page when installed."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub publish: PublishArgs,

    #[command(flatten)]
    pub global: GlobalArgs,
}

impl Cli {
    /// Parse the process's arguments. This shadows [`Parser::parse`] (`main` calls `Cli::parse()`) to put
    /// the arguments in the order clap needs first (see [`reorder_args`]).
    pub fn parse() -> Cli {
        <Cli as Parser>::parse_from(reorder_args(std::env::args_os().collect()))
    }
}

/// `args` (the program's name first) in the order clap reads as meant. git-publish's global options
/// before a command move after it: with `args_conflicts_with_subcommands`, clap would refuse them there
/// (`git publish -v status`). And a `--` goes after the `push` command (unless it is asked only for its
/// help), so that clap hands everything after `push` to `git push`, options such as `-v` too:
/// `git publish [OPTIONS] push [GIT PUSH ARGS]`.
pub fn reorder_args(args: Vec<OsString>) -> Vec<OsString> {
    let cmd = Cli::command();
    let (mut before, mut globals) = (Vec::new(), Vec::new());
    let mut i = 1;
    while let Some(word) = args.get(i).and_then(|w| w.to_str()) {
        if word == "--" || word == "-" || !word.starts_with('-') {
            break;
        }
        let (len, global) = option_at(&cmd, word);
        let end = (i + len).min(args.len());
        if global { &mut globals } else { &mut before }.extend_from_slice(&args[i..end]);
        i = end;
    }
    let command = args.get(i).and_then(|w| w.to_str()).unwrap_or("");
    if command == "help" || cmd.find_subcommand(command).is_none() {
        return args;
    }
    let rest = &args[i + 1..];
    let help_only = rest.len() == 1 && matches!(rest[0].to_str(), Some("-h" | "--help"));
    let verbatim = (command == "push" && !help_only).then(|| OsString::from("--"));
    [&args[..1], &before, &args[i..=i], &globals]
        .concat()
        .into_iter()
        .chain(verbatim)
        .chain(rest.iter().cloned())
        .collect()
}

/// The option word `word` of git-publish before the command: how many arguments it takes up (2 when the
/// next one is its value), and whether it is global (all of it, for bundled short flags).
fn option_at(cmd: &clap::Command, word: &str) -> (usize, bool) {
    let takes = |a: &clap::Arg| a.get_action().takes_values();
    if let Some(long) = word.strip_prefix("--") {
        let (name, attached) = match long.split_once('=') {
            Some((n, _)) => (n, true),
            None => (long, false),
        };
        return match cmd.get_arguments().find(|a| a.get_long() == Some(name)) {
            Some(a) => (if takes(a) && !attached { 2 } else { 1 }, a.is_global_set()),
            None => (1, false),
        };
    }
    // Short flags, bundled: the first that takes a value takes the rest of the word, or the next argument.
    let shorts: Vec<char> = word.chars().skip(1).collect();
    let mut global = true;
    for (k, c) in shorts.iter().enumerate() {
        let Some(a) = cmd.get_arguments().find(|a| a.get_short() == Some(*c)) else {
            return (1, false);
        };
        global &= a.is_global_set();
        if takes(a) {
            return (if k + 1 == shorts.len() { 2 } else { 1 }, global);
        }
    }
    (1, global)
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// Config file (default: site.toml at the repository root)
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Run as if started in DIR
    #[arg(short = 'C', global = true, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// More output (-v: details, -vv: debug log, -vvv: AWS SDK log)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Only errors
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true)]
    pub json: bool,

    /// Colour the plan
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

/// `git publish preview [list | rm NAME | prune]`.
#[derive(Debug, Args, Clone, Default)]
#[command(args_conflicts_with_subcommands = true)]
pub struct PreviewArgs {
    #[command(subcommand)]
    pub action: Option<PreviewAction>,
    /// Target whose preview space to use (default: the default target)
    #[arg(short, long, value_name = "NAME")]
    pub target: Option<String>,
    /// Branch to preview (default: the current branch; its output is that branch's commit)
    #[arg(long, value_name = "BRANCH", conflicts_with = "rev")]
    pub branch: Option<String>,
    /// Commit, branch or tag to preview, under the current branch's name (or --name)
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,
    /// The preview's name (default: from the branch; a DNS label of a-z, 0-9 and -)
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Print the plan, change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,
    /// Wait until the CloudFront invalidations have completed
    #[arg(long)]
    pub wait: bool,
}

#[derive(Debug, Subcommand, Clone)]
pub enum PreviewAction {
    /// List the target's previews: name, branch, commit, age, size, URL
    List {
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
    },
    /// Remove a preview: exactly its keys and its record, and invalidate its paths
    Rm {
        /// The preview's name (`git publish preview list`)
        name: String,
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
        /// Print what would be removed, change nothing
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
    /// Remove the previews whose branch no longer exists on the remote (and, with --older-than, stale ones)
    Prune {
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
        /// The remote whose branches count (default: origin)
        #[arg(long, default_value = "origin")]
        remote: String,
        /// Also remove previews last published longer ago than this (e.g. 30d, 2w)
        #[arg(long, value_name = "AGE", value_parser = humantime::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Print what would be removed, change nothing
        #[arg(short = 'n', long)]
        dry_run: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args, Clone, Default)]
pub struct PublishArgs {
    /// Target to publish to (a [targets.NAME] in site.toml; default: the one with default = true)
    #[arg(short, long, value_name = "NAME")]
    pub target: Option<String>,

    /// Commit, branch or tag to publish (default: source.branch, else HEAD)
    #[arg(long, value_name = "REV")]
    pub rev: Option<String>,

    /// Show the plan (+ upload, ~ replace, - delete, ! invalidate) and change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Treat REV as what is deployed (adopt a bucket filled by another tool)
    #[arg(long, value_name = "REV")]
    pub since: Option<String>,

    /// Upload every file of the tree, not only changed ones
    #[arg(long)]
    pub full: bool,

    /// Allow up to N deletes in this publish (overrides max_deletes)
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,

    /// Take over a target claimed by another publisher that is not provably gone
    #[arg(long)]
    pub take_over: bool,

    /// With --since or --full: replace a state object that can't be read (its bytes are kept beside it)
    #[arg(long)]
    pub force_state: bool,

    /// Wait until the CloudFront invalidation has completed
    #[arg(long)]
    pub wait: bool,

    /// Give up waiting after this long (e.g. 10m)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "wait")]
    pub wait_timeout: Option<std::time::Duration>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Publish (the default when no command is given)
    Publish(PublishArgs),
    /// Show what is live on each target and how far it is behind
    Status {
        /// Only this target
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
    },
    /// Show a target's last deploys (newest first; kept in the target, so every clone sees them)
    Log {
        /// Target whose history to show (default: the default target)
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
    },
    /// Publish an earlier deploy again (entry N of `git publish log`; exact diff and invalidations)
    Rollback(RollbackArgs),
    /// List the redirects live on a target (from `[[redirects]]` and from renamed pages)
    Redirects {
        /// Target whose redirects to list (default: the default target)
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
    },
    /// The CloudFront Function (cloudfront-js-2.0, viewer request) that serves directory indexes, pretty URLs,
    /// the redirects and the branch previews of a target: its limits, or its code for your own tooling
    CdnFunction {
        /// Target whose function to show (default: the default target)
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
        /// Print the code (without it: the redirects and previews it serves, and its sizes against
        /// CloudFront's limits)
        #[arg(long)]
        print: bool,
    },

    /// Publish a branch's preview beside production, at its own URL (`list`, `rm`, `prune` manage them)
    Preview(PreviewArgs),

    // ---- publish on push (src/hooks/) ----
    /// Install git hooks that publish the site branch when it is pushed
    Install(InstallArgs),
    /// Remove git-publish's hooks and put back the hooks they replaced
    Uninstall,
    /// Run `git push` with these arguments, then publish the site branch if the push updated it. Everything
    /// after `push` goes to `git push`: git-publish's own options go before it (`git publish -v push -f`)
    Push {
        /// Arguments for `git push` (remote, refspecs, flags), as they are
        #[arg(
            trailing_var_arg = true,
            allow_hyphen_values = true,
            value_name = "GIT PUSH ARGS"
        )]
        args: Vec<String>,
    },
    /// Publish the commit whose publish failed after a push (see `git publish status`), unless what is live
    /// has moved on since
    Retry(RetryArgs),
    /// Entry point of the installed hook scripts (not for direct use)
    #[command(hide = true)]
    Hook(HookArgs),
    /// Check a target's setup without publishing: credentials, the bucket's region, each distribution's
    /// origin, that the store refuses conditional writes that must fail, and whether the deploy record is public
    Doctor {
        /// The target (default: the default target)
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
        /// Look for the deploy record at URL instead of https://<domain>: check a preview/staging host or a
        /// local server (the URL the site's root is served at; http:// only to a loopback host)
        #[arg(long, value_name = "URL")]
        site_url: Option<String>,
    },
    /// Print the least-privilege IAM policy (JSON) for a target's bucket, prefix and distributions
    IamPolicy {
        /// The target (default: the default target)
        #[arg(short, long, value_name = "NAME")]
        target: Option<String>,
        /// The policy of a role that publishes previews only (`git publish preview`): it can write under the
        /// target's `_previews/` and the previews' records, and nothing of production (e.g. CI for pull requests)
        #[arg(long, conflicts_with = "bucket_policy")]
        previews: bool,
        #[command(flatten)]
        bucket: BucketPolicyArgs,
    },
    /// Create what a target needs on AWS, the recommended way: the bucket (private, encrypted), an origin access
    /// control, the CloudFront Function, a distribution (HTTPS, compression, HTTP/3), the bucket policy; then
    /// write `distribution` into site.toml. Shows the plan first; a re-run changes nothing
    Setup(SetupArgs),
    // ---- init, man page, completions (ux) ----
    /// Try it without AWS: commit the example blog built into git-publish in a new repository (DIR/site),
    /// publish it to a local directory (DIR/www), edit a post and publish again (only that page goes up)
    Demo {
        /// Where to make the demo (created; must not exist or be empty)
        #[arg(value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write a commented site.toml: detect the generator's output directory, pick the bucket and the
    /// CloudFront distribution (asks on a terminal; --yes and flags for CI)
    Init(InitArgs),
    /// Print the man page git-publish(1), or install it with --install so `git publish --help` opens it
    Man {
        /// Write git-publish.1 (and one page per subcommand) into a man1 directory instead of printing it
        #[arg(long)]
        install: bool,
        /// The man1 directory for --install (default: ../share/man/man1 next to the binary, which man finds
        /// through PATH)
        #[arg(long = "dir", value_name = "DIR", requires = "install")]
        man_dir: Option<PathBuf>,
    },
    /// Print shell completions, e.g. `git-publish completions bash > ~/.local/share/bash-completion/completions/git-publish`
    Completions {
        /// bash, zsh, fish, elvish or powershell
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args, Clone)]
pub struct SetupArgs {
    /// The target (default: the default target)
    #[arg(short, long, value_name = "NAME")]
    pub target: Option<String>,
    /// Only check: list each recommended setting as ✓/✗ with its fix (exit 1 when one is ✗); changes nothing
    #[arg(long, conflicts_with_all = ["yes", "dry_run", "adopt"])]
    pub check: bool,
    /// Print the plan and change nothing (the default without --yes, unless a terminal confirms it)
    #[arg(long, short = 'n')]
    pub dry_run: bool,
    /// Apply the plan without asking (scripts, CI)
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Also change a bucket or distribution that setup did not create (after showing the diff)
    #[arg(long)]
    pub adopt: bool,
    /// Serve the site at this domain too: an ACM certificate (DNS validation) and an alias (default: the
    /// target's `domain`)
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Create the certificate's validation records and the alias A/AAAA records in the Route 53 zone that
    /// holds --domain (and, with --previews, the zone that holds the previews' domain)
    #[arg(long)]
    pub route53: bool,
    /// Serve branch previews at <name>.D: the wildcard alias *.D (D is `[targets.NAME.previews] domain`) and
    /// a certificate that covers it with the distribution's other aliases (ACM, us-east-1, DNS validation)
    #[arg(long)]
    pub previews: bool,
    /// CloudFront price class: PriceClass_100 (North America, Europe), PriceClass_200, PriceClass_All
    #[arg(long, value_name = "CLASS", default_value = "PriceClass_100",
          value_parser = clap::builder::PossibleValuesParser::new(crate::setup::PRICE_CLASSES))]
    pub price_class: String,
    /// Print the IAM role (GitHub OIDC trust limited to one branch) and the workflow that publishes from
    /// GitHub Actions for OWNER/REPO
    #[arg(long, value_name = "OWNER/REPO")]
    pub github: Option<String>,
    /// The branch whose pushes may publish (with --github)
    #[arg(
        long,
        value_name = "BRANCH",
        default_value = "main",
        requires = "github"
    )]
    pub github_branch: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookMode {
    /// Publish after the push succeeded (the remote-tracking ref moved)
    PostPush,
    /// Publish before the push proceeds; a failed publish aborts the push
    PrePush,
}

#[derive(Debug, Args, Clone)]
pub struct InstallArgs {
    /// When to publish
    #[arg(long, value_enum, default_value_t = HookMode::PostPush)]
    pub mode: HookMode,

    /// Remote whose pushes publish (default: the site branch's upstream remote, else origin)
    #[arg(long, value_name = "NAME")]
    pub remote: Option<String>,

    /// The site branch (default: source.branch in site.toml, else the current branch)
    #[arg(long, value_name = "NAME")]
    pub branch: Option<String>,

    /// Publish in a detached process that logs to .git/git-publish/publish.log (default: in the foreground)
    #[arg(long)]
    pub background: bool,

    /// Install even into a global core.hooksPath or one owned by husky, lefthook or pre-commit
    #[arg(long)]
    pub force: bool,

    /// Also publish a branch preview (`git publish preview`) when another branch is pushed, and remove it when
    /// the branch is deleted on the remote (`git publish push` does the same)
    #[arg(long)]
    pub previews: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RetryArgs {
    /// Publish it even though what is live does not contain it (or, for an ancestor of live, as a rollback)
    #[arg(long)]
    pub force: bool,
}

/// The hooks the shims run: `git-publish hook NAME …`. Clap refuses any other name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum HookName {
    /// Run by the pre-push shim: record (post-push mode) or publish (pre-push mode) the push
    PrePush,
    /// Run by the reference-transaction shim once the remote-tracking ref of the site branch moved
    ReferenceTransaction,
    /// Run by the background spawn: publish the commit after its push
    Publish,
}

#[derive(Debug, Args, Clone)]
pub struct HookArgs {
    /// pre-push, reference-transaction or publish
    #[arg(value_enum)]
    pub hook: HookName,
    #[arg(long)]
    pub pid: Option<u32>,
    #[arg(long, value_enum, default_value_t = HookMode::PostPush)]
    pub mode: HookMode,
    #[arg(long, default_value = "origin")]
    pub remote: String,
    #[arg(long, default_value = "")]
    pub branch: String,
    /// `1`: publish in a detached process (the shims pass `0` or `1`)
    #[arg(long, default_value = "0", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub background: bool,
    /// `1`: pushes of other branches publish their previews (`install --previews`; the shims pass `0` or `1`)
    #[arg(long, default_value = "0", action = clap::ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub previews: bool,
    /// `hook publish`: publish this branch's preview (the zero id as the commit: remove it)
    #[arg(long, value_name = "BRANCH")]
    pub preview: Option<String>,
    #[arg(long, default_value = "")]
    pub site_config: String,
    /// The directory the shim runs from (where `reference-transaction` is armed)
    #[arg(long)]
    pub hooks_dir: Option<PathBuf>,
    /// The hook's own arguments
    #[arg(last = true)]
    pub args: Vec<String>,
}

/// `iam-policy --bucket-policy`: the bucket policy for CloudFront origin access control instead.
#[derive(Debug, Args, Clone, Default)]
pub struct BucketPolicyArgs {
    /// Print the bucket policy that lets the target's distributions read the site through origin access
    /// control, but not the deploy record under `.git-publish/`
    #[arg(long)]
    pub bucket_policy: bool,
    /// The AWS account that owns the distributions (12 digits), to build their ARNs
    #[arg(long, value_name = "ID", requires = "bucket_policy")]
    pub account_id: Option<String>,
    /// A distribution's ARN (repeatable); replaces the target's `distribution` list, and gives the account
    #[arg(long, value_name = "ARN", requires = "bucket_policy")]
    pub distribution_arn: Vec<String>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct InitArgs {
    /// Where to publish: s3://BUCKET[/PREFIX] or file:///DIR
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// AWS region of the bucket
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// AWS profile from ~/.aws/config (also used to list distributions)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// S3-compatible endpoint (Cloudflare R2, MinIO, Backblaze B2)
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,

    /// CloudFront distribution id to invalidate, or `none`
    #[arg(long, value_name = "ID")]
    pub distribution: Option<String>,

    /// With an R2 endpoint: the Cloudflare zone (its id) whose cache is purged
    #[arg(long, value_name = "ZONE_ID")]
    pub cloudflare_zone: Option<String>,

    /// With an R2 endpoint: the site's host name, on which Cloudflare's cache is purged
    #[arg(long, value_name = "HOST")]
    pub domain: Option<String>,

    /// Output directory inside the commit (default: detected from the generator)
    #[arg(long = "dir", value_name = "DIR")]
    pub output_dir: Option<String>,

    /// Name of the target table, [targets.NAME]
    #[arg(short, long, value_name = "NAME")]
    pub target: Option<String>,

    /// Ask nothing: take the flags and the detected defaults (for CI and scripts; needs --url)
    #[arg(short, long, visible_alias = "non-interactive")]
    pub yes: bool,

    /// Overwrite an existing site.toml
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args, Clone)]
pub struct RollbackArgs {
    /// Target to roll back (default: the default target)
    #[arg(short, long, value_name = "NAME")]
    pub target: Option<String>,

    /// How many deploys to go back (entry N of `git publish log`)
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub steps: usize,

    /// Show the plan and change nothing
    #[arg(short = 'n', long)]
    pub dry_run: bool,

    /// Allow up to N deletes in this publish (overrides max_deletes)
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,

    /// Wait until the CloudFront invalidation has completed
    #[arg(long)]
    pub wait: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reordered(line: &str) -> String {
        let args = line.split(' ').map(OsString::from).collect();
        let out: Vec<String> = reorder_args(args)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect();
        out.join(" ")
    }

    #[test]
    fn global_options_go_after_the_command_and_everything_after_push_to_git_push() {
        for (line, want) in [
            ("gp push -v origin", "gp push -- -v origin"),
            ("gp -v push -f", "gp push -v -- -f"),
            ("gp --config push push -q", "gp push --config push -- -q"),
            ("gp -C push push", "gp push -C push --"),
            ("gp -vC push push x", "gp push -vC push -- x"),
            ("gp --config=x push --json", "gp push --config=x -- --json"),
            ("gp push -h", "gp push -h"),
            ("gp push", "gp push --"),
            ("gp -v status -q", "gp status -v -q"),
            ("gp --rev x -v status", "gp --rev x status -v"),
            ("gp -n -v", "gp -n -v"),
            ("gp -v help push", "gp -v help push"),
            ("gp -- push", "gp -- push"),
        ] {
            assert_eq!(reordered(line), want, "{line}");
        }
        let args = ["gp", "-v", "push", "-v", "--json", "origin"].map(OsString::from);
        let cli = <Cli as Parser>::try_parse_from(reorder_args(args.to_vec())).unwrap();
        assert_eq!(cli.global.verbose, 1);
        assert!(!cli.global.json);
        let Some(Command::Push { args }) = cli.command else {
            panic!("not push");
        };
        assert_eq!(args, ["-v", "--json", "origin"]);
        let args = ["gp", "-C", "dir", "--json", "status"].map(OsString::from);
        let cli = <Cli as Parser>::try_parse_from(reorder_args(args.to_vec())).unwrap();
        assert!(cli.global.json && cli.global.dir.is_some());
        let args = ["gp", "--rev", "x", "status"].map(OsString::from);
        assert!(<Cli as Parser>::try_parse_from(reorder_args(args.to_vec())).is_err());
    }
}
