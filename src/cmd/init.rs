//! `git publish init`: write a commented `site.toml` for this repository.
//!
//! In steps, each its own function: check what must hold before anything is asked (`verify`), detect the
//! generator and its output directory from the files at the repository root ([`detect`], one table of
//! clues), see whether git ignores that directory (then the file sets up snapshot builds: `build_dir` and the
//! generator's `build_command`, as a fresh Hexo or Hugo clone needs), ask for (or take flags for) the target
//! URL, region and CloudFront distribution (`Questions`; the distributions are listed with their aliases so the
//! user can pick one), render the file ([`render`]), check it with the same parser `git publish` uses, write
//! it, and say what to do next, in the form that runs it (`npx --package=@git-publish/cli git-publish …` when
//! the npm launcher started us).
//!
//! Never overwrites an existing file without `--force`. Prompts go to stderr and read stdin; with `--yes`
//! nothing is asked (CI). The CloudFront call itself lives in `aws::cloudfront`; this module must not
//! publish or touch the bucket.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use crate::aws::cloudfront::{origin_is_bucket, DistInfo as DistributionInfo};
use crate::cli::InitArgs;
use crate::config::{is_valid_target_name, Backend, Config};
use crate::error::{Error, Result};
use crate::source::Repo;
use crate::ui::Ui;

mod r2;

/// `git publish init`: returns the path written.
pub async fn run(cwd: &Path, config: Option<PathBuf>, args: InitArgs, ui: &Ui) -> Result<PathBuf> {
    let repo = Repo::open(cwd)?;
    let root = repo.root();
    let path = crate::config::path_of(cwd, config, &root);
    verify(&path, &args)?;
    let mut questions = Questions {
        args: &args,
        interactive: !args.yes,
        prompt: Prompt {
            input: std::io::stdin().lock(),
        },
    };
    let detected = detect(&root);
    say_detected(detected.as_ref(), ui);
    let mut a = questions.directory_and_name(detected)?;
    // `public/` with the slash: git's `public/` pattern matches only a directory, which may not exist yet.
    if !a.dir.is_empty() && repo.is_ignored(&format!("{}/", a.dir)) {
        questions.snapshot(&mut a)?;
    }
    questions.url(&mut a, &path, &root)?;
    let r2 = (a.endpoint.as_deref()).is_some_and(crate::backends::is_r2_endpoint);
    if bucket_of(&a.url).is_some() && r2 {
        questions.r2(&mut a, ui)?;
    } else if bucket_of(&a.url).is_some() {
        questions.aws(&mut a, ui).await?;
        questions.record_privacy(&mut a, ui)?;
    } else {
        questions.no_aws(&mut a, ui);
    }
    let text = render(&a);
    let cfg = Config::from_str(&text, &path, &root)?;
    crate::config::edit::write_file(&path, &text)?;
    say_written(&repo, &cfg, &a, &path, ui)?;
    Ok(path)
}

/// What must hold before anything is asked: no file in the way, and someone to ask (or `--yes --url`).
fn verify(path: &Path, args: &InitArgs) -> Result<()> {
    if path.exists() && !args.force {
        return Err(Error::ConfigExists {
            path: path.to_path_buf(),
        });
    }
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(Error::Init {
            message: "stdin is not a terminal, so there is no one to ask".into(),
            hint: format!(
                "pass --yes with --url (and --region, --distribution, --dir as needed), e.g. \
                 `{} init --yes --url s3://my-bucket --region eu-west-1 --distribution E2QWRUHAPOMQZL`",
                command_prefix()
            ),
        });
    }
    if args.yes && args.url.is_none() {
        return Err(Error::Init {
            message: "--yes needs --url".into(),
            hint: "pass --url s3://BUCKET[/PREFIX] (or file:///DIR)".into(),
        });
    }
    Ok(())
}

/// What the files at the repository root say about the generator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub generator: &'static str,
    /// Output directory relative to the root.
    pub dir: &'static str,
    /// The command that writes it.
    pub build: &'static str,
    /// The file that gave it away.
    pub because: String,
}

/// What gives a generator away in the repository root.
enum Clue {
    /// package.json depends on it.
    Dependency(&'static str),
    /// Any of these files exists.
    AnyFile(&'static [&'static str]),
    /// config.toml with `base_url`.
    ZolaConfig,
    /// config.{toml,yaml,yml,json} beside archetypes/, layouts/ or themes/.
    OldHugoConfig,
    /// `_config.yml`, with jekyll in the Gemfile or no package.json.
    JekyllConfig,
}

struct Generator {
    clue: Clue,
    name: &'static str,
    dir: &'static str,
    build: &'static str,
}

/// The generators, tried in order (a lookup table). Order matters: Hexo and Jekyll both have
/// `_config.yml`; Zola and old Hugo both have `config.toml`.
#[rustfmt::skip]
const GENERATORS: &[Generator] = &[
    Generator { clue: Clue::Dependency("hexo"), name: "Hexo", dir: "public", build: "npx hexo generate" },
    Generator {
        clue: Clue::AnyFile(&["eleventy.config.js", "eleventy.config.mjs", "eleventy.config.cjs", "eleventy.config.ts", ".eleventy.js"]),
        name: "Eleventy", dir: "_site", build: "npx @11ty/eleventy",
    },
    Generator { clue: Clue::Dependency("@11ty/eleventy"), name: "Eleventy", dir: "_site", build: "npx @11ty/eleventy" },
    Generator {
        clue: Clue::AnyFile(&["astro.config.mjs", "astro.config.js", "astro.config.ts", "astro.config.mts"]),
        name: "Astro", dir: "dist", build: "npx astro build",
    },
    Generator {
        clue: Clue::AnyFile(&["vite.config.js", "vite.config.ts", "vite.config.mjs", "vite.config.mts"]),
        name: "Vite", dir: "dist", build: "npx vite build",
    },
    Generator {
        clue: Clue::AnyFile(&["hugo.toml", "hugo.yaml", "hugo.yml", "hugo.json"]),
        name: "Hugo", dir: "public", build: "hugo",
    },
    Generator { clue: Clue::ZolaConfig, name: "Zola", dir: "public", build: "zola build" },
    Generator { clue: Clue::OldHugoConfig, name: "Hugo", dir: "public", build: "hugo" },
    Generator { clue: Clue::JekyllConfig, name: "Jekyll", dir: "_site", build: "bundle exec jekyll build" },
];

impl Clue {
    /// What in `root` gives the generator away, if anything.
    fn found(&self, root: &Path) -> Option<String> {
        let has = |f: &str| root.join(f).exists();
        let read = |f: &str| std::fs::read_to_string(root.join(f)).unwrap_or_default();
        match self {
            Clue::Dependency(name) => (read("package.json").contains(&format!("\"{name}\"")))
                .then(|| format!("package.json depends on {name}")),
            Clue::AnyFile(files) => files.iter().find(|f| has(f)).map(|f| f.to_string()),
            Clue::ZolaConfig => (has("config.toml") && read("config.toml").contains("base_url"))
                .then(|| "config.toml has base_url".to_string()),
            Clue::OldHugoConfig => ["config.toml", "config.yaml", "config.yml", "config.json"]
                .iter()
                .find(|f| has(f) && (has("archetypes") || has("layouts") || has("themes")))
                .map(|f| f.to_string()),
            Clue::JekyllConfig => (has("_config.yml")
                && (read("Gemfile").contains("jekyll") || read("package.json").is_empty()))
            .then(|| "_config.yml".to_string()),
        }
    }
}

/// Recognise Hexo, Hugo, Jekyll, Zola, Eleventy, Astro and Vite by their files (see `GENERATORS`).
pub fn detect(root: &Path) -> Option<Detected> {
    GENERATORS.iter().find_map(|g| {
        Some(Detected {
            generator: g.name,
            dir: g.dir,
            build: g.build,
            because: g.clue.found(root)?,
        })
    })
}

fn say_detected(detected: Option<&Detected>, ui: &Ui) {
    match detected {
        Some(d) => ui.note(&format!(
            "detected {} ({}): output directory {}/",
            d.generator, d.because, d.dir
        )),
        None => {
            ui.note("no known generator found (Hexo, Hugo, Jekyll, Zola, Eleventy, Astro, Vite)")
        }
    }
}

/// What goes into the file.
#[derive(Debug, Clone, Default)]
pub struct Answers {
    pub generator: Option<Detected>,
    pub dir: String,
    pub target: String,
    pub url: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub endpoint: Option<String>,
    pub distribution: Option<String>,
    /// Aliases of the chosen distribution, for a comment.
    pub aliases: Vec<String>,
    /// The site's host name (`domain`): with `zone`, the host Cloudflare's cache is purged on.
    pub domain: Option<String>,
    /// `[targets.NAME.cloudflare] zone`: an R2 bucket behind Cloudflare's cache.
    pub zone: Option<String>,
    /// `state = …`: where the deploy record goes, when chosen over a bucket policy.
    pub state: Option<String>,
    /// Snapshot builds (`build_dir` = `dir`): git ignores the output directory, so it is never committed.
    pub snapshot: bool,
    /// `build_command`, with snapshot builds: the generator's, or what the user typed.
    pub build_command: Option<String>,
}

/// Answers from the flags, else (interactive) from the prompt, else the defaults.
struct Questions<'a> {
    args: &'a InitArgs,
    interactive: bool,
    prompt: Prompt,
}

impl Questions<'_> {
    /// The output directory (default: the generator's) and the target's name.
    fn directory_and_name(&mut self, detected: Option<Detected>) -> Result<Answers> {
        let default_dir = detected.as_ref().map(|d| d.dir).unwrap_or("public");
        let args = self.args;
        let dir = match (&args.output_dir, self.interactive) {
            (Some(d), _) => d.clone(),
            (None, false) => default_dir.to_string(),
            (None, true) => {
                (self.prompt).ask("Output directory in the commit", Some(default_dir))?
            }
        };
        let target = match (&args.target, self.interactive) {
            (Some(t), _) => t.clone(),
            (None, false) => "production".into(),
            (None, true) => loop {
                let t = self.prompt.ask("Target name", Some("production"))?;
                if is_valid_target_name(&t) {
                    break t;
                }
                eprintln!("  a target name may only hold letters, digits, `-`, `_` and `.`");
            },
        };
        Ok(Answers {
            generator: detected,
            dir,
            target,
            profile: args.profile.clone(),
            endpoint: args.endpoint.clone(),
            ..Answers::default()
        })
    }

    /// The output directory is ignored by git: snapshot builds, with the generator's build command (asked on a
    /// terminal; `-` there means none: the user builds before publishing).
    fn snapshot(&mut self, a: &mut Answers) -> Result<()> {
        a.snapshot = true;
        let detected = a.generator.as_ref().map(|g| g.build);
        a.build_command = match (detected, self.interactive) {
            (d, false) => d.map(str::to_string),
            (d, true) => {
                let question = format!(
                    "{}/ is ignored by git, so publishes will build it and commit a snapshot (never to your \
                     branch). Build command (`-` for none)",
                    a.dir
                );
                let answer = self.prompt.ask(&question, d)?;
                (!answer.is_empty() && answer != "-").then_some(answer)
            }
        };
        Ok(())
    }

    /// The URL, asked again until the parser accepts the file it makes.
    fn url(&mut self, a: &mut Answers, path: &Path, root: &Path) -> Result<()> {
        loop {
            a.url = match &self.args.url {
                Some(u) => u.clone(),
                None => self.prompt.ask(
                    "Publish to (s3://BUCKET[/PREFIX], or file:///DIR for a local directory)",
                    None,
                )?,
            };
            match Config::from_str(&render(a), path, root) {
                Ok(_) => return Ok(()),
                Err(e) if self.interactive && self.args.url.is_none() => {
                    eprintln!("  {e}");
                    if let Some(h) = e.hint() {
                        eprintln!("  hint: {h}");
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// An S3 target: the region and the CloudFront distribution.
    async fn aws(&mut self, a: &mut Answers, ui: &Ui) -> Result<()> {
        let args = self.args;
        let env_region = std::env::var("AWS_REGION")
            .or_else(|_| std::env::var("AWS_DEFAULT_REGION"))
            .ok()
            .filter(|r| !r.is_empty());
        a.region = match (&args.region, self.interactive) {
            (Some(r), _) => Some(r.clone()),
            (None, false) => None,
            (None, true) => Some(self.prompt.ask(
                "AWS region of the bucket",
                Some(env_region.as_deref().unwrap_or("us-east-1")),
            )?),
        };
        a.distribution = match (&args.distribution, self.interactive) {
            (Some(d), _) if d.eq_ignore_ascii_case("none") => None,
            (Some(d), _) => Some(d.clone()),
            (None, false) => None,
            (None, true) => self.pick_distribution(a, ui).await?,
        };
        Ok(())
    }

    /// The deploy record (`.git-publish/state.json`) is served with the site unless kept out: propose a
    /// bucket policy for CloudFront origin access control, or a record in another bucket (`state`). Asked on
    /// a terminal; with --yes the bucket policy is chosen, and that is said.
    fn record_privacy(&mut self, a: &mut Answers, ui: &Ui) -> Result<()> {
        let choice = if self.interactive {
            (self.prompt).ask(
                "The deploy record (.git-publish/state.json) names commits and publishers and is served with \
                 the site. Keep it private with 1) a bucket policy for CloudFront, or 2) a record in another bucket",
                Some("1"),
            )?
        } else {
            "1".into()
        };
        if choice.trim() == "2" {
            let url = (self.prompt).ask(
                "Where the record goes (s3://PRIVATE-BUCKET/site.json, or s3://BUCKET/PREFIX)",
                None,
            )?;
            if !url.trim().is_empty() {
                a.state = Some(url.trim().to_string());
                return Ok(());
            }
        }
        let why = if self.interactive {
            ""
        } else {
            " (chosen by --yes)"
        };
        ui.note(&format!(
            "keep the deploy record private{why}: `git publish setup` merges this into the bucket policy as it \
             creates the distribution; for one made by hand, `git publish iam-policy --bucket-policy --account-id ACCOUNT` \
             prints a bucket policy that lets CloudFront read the site but not .git-publish/; apply it with \
             `aws s3api put-bucket-policy --bucket {} --policy file://policy.json`, or set `state` in site.toml \
             (see the README, \"The deploy record is not public\")",
            bucket_of(&a.url).unwrap_or("BUCKET")
        ));
        Ok(())
    }

    /// A local-directory target: the AWS flags are ignored, with a warning for each one given.
    fn no_aws(&self, a: &mut Answers, ui: &Ui) {
        let args = self.args;
        for (flag, given) in [
            ("--region", args.region.is_some()),
            ("--distribution", args.distribution.is_some()),
            ("--endpoint", args.endpoint.is_some()),
            ("--profile", args.profile.is_some()),
        ] {
            if given {
                let what = match a.url.starts_with("file:") {
                    true => "a local-directory target".to_string(),
                    false => format!("{}: it is for s3:// targets", a.url),
                };
                ui.warn(&format!("{flag} is ignored for {what}"));
            }
        }
        a.region = None;
        a.distribution = None;
        a.endpoint = None;
        a.profile = None;
    }

    /// List the account's distributions and let the user pick one by number or id (or none).
    async fn pick_distribution(&mut self, a: &mut Answers, ui: &Ui) -> Result<Option<String>> {
        let sdk = crate::aws::sdk_config_for(a.profile.as_deref(), a.region.as_deref()).await;
        let client = crate::aws::cloudfront_client(&sdk);
        let list = match crate::aws::cloudfront::list(&client).await {
            Ok(l) => l,
            Err(e) => {
                ui.warn(&format!("could not list CloudFront distributions: {e}"));
                return self.distribution_id();
            }
        };
        if list.is_empty() {
            ui.note("this account has no CloudFront distributions");
            return self.distribution_id();
        }
        let suggested = bucket_of(&a.url).and_then(|b| suggest(&list, b));
        eprintln!("CloudFront distributions:");
        for line in distribution_lines(&list, suggested) {
            eprintln!("{line}");
        }
        let default = suggested
            .map(|i| (i + 1).to_string())
            .unwrap_or_else(|| "none".into());
        loop {
            let answer = self.prompt.ask(
                "Distribution to invalidate (number or id, `none` for none)",
                Some(&default),
            )?;
            if answer.eq_ignore_ascii_case("none") || answer == "0" {
                return Ok(None);
            }
            let chosen = match answer.parse::<usize>() {
                Ok(n) if (1..=list.len()).contains(&n) => Some(&list[n - 1]),
                Ok(_) => None,
                Err(_) => list.iter().find(|d| d.id == answer),
            };
            match chosen {
                Some(d) => {
                    a.aliases = d.aliases.clone();
                    return Ok(Some(d.id.clone()));
                }
                None if answer.parse::<usize>().is_err() && answer.starts_with('E') => {
                    // An id not in the list (another account or profile): take it as given.
                    return Ok(Some(answer));
                }
                None => eprintln!("  `{answer}` is not one of 1..{} or an id", list.len()),
            }
        }
    }

    /// A distribution id typed in (empty: none), when there is no list to pick from.
    fn distribution_id(&mut self) -> Result<Option<String>> {
        let d = self
            .prompt
            .ask("CloudFront distribution id (empty: none)", None)?;
        Ok((!d.is_empty()).then_some(d))
    }
}

/// Say where the file went, warn when the output directory is ignored, and say what to do next.
fn say_written(repo: &Repo, cfg: &Config, a: &Answers, path: &Path, ui: &Ui) -> Result<()> {
    let target = cfg.target(None)?;
    let where_ = match &target.store.backend {
        Backend::S3 { .. } | Backend::Cloud { .. } => target.store.url.clone(),
        Backend::Local { root } => root.display().to_string(),
    };
    let shown_dir = if a.dir.is_empty() { "." } else { &a.dir };
    let root = repo.root();
    ui.note(&format!(
        "wrote {}: {}/ → {}{}",
        path.strip_prefix(&root).unwrap_or(path).display(),
        shown_dir,
        where_,
        a.distribution
            .as_deref()
            .map(|d| format!(" + CloudFront {d}"))
            .unwrap_or_default()
    ));
    let gp = command_prefix();
    if a.snapshot {
        let build = match &a.build_command {
            Some(b) => format!("runs `{b}`, "),
            None => "publishes what the build left in it: ".into(),
        };
        ui.note(&format!(
            "{shown_dir}/ is ignored by git, so site.toml sets up snapshot builds: each `{gp}` {build}commits \
             {shown_dir}/ to refs/heads/site-builds (not your branch) and publishes that commit"
        ));
        ui.note(&format!(
            "next: `{gp} --dry-run` builds and shows the plan; `{gp}` publishes; push site-builds \
             (`git push origin site-builds`) so that other clones and CI diff against what is live"
        ));
        return Ok(());
    }
    let head = repo.resolve_commit("HEAD").ok();
    if head
        .and_then(|h| repo.output_tree(&h, &a.dir).ok())
        .is_none()
    {
        let build = (a.generator.as_ref())
            .map(|d| d.build)
            .unwrap_or("your generator");
        ui.note(&format!(
            "next: `{build}`, `git add {shown_dir} && git commit`, then `{gp} --dry-run`"
        ));
    } else {
        let setup = if a.url.starts_with("s3://") {
            format!("`{gp} setup` creates the bucket and CloudFront if they don't exist yet; ")
        } else {
            String::new()
        };
        ui.note(&format!(
            "next: {setup}`{gp} --dry-run` shows the plan; `{gp}` publishes"
        ));
    }
    Ok(())
}

/// How the user runs git-publish, for the commands suggested: `git publish`, or, when the npm launcher started
/// us (it sets GIT_PUBLISH_NPM_PACKAGE to its package's name), npx naming that package: npx told only the
/// command's name would look `git-publish` up on the registry, where an unrelated package holds it.
pub fn command_prefix() -> String {
    match std::env::var("GIT_PUBLISH_NPM_PACKAGE") {
        Ok(p)
            if !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "@/-._".contains(c)) =>
        {
            format!("npx --package={p} git-publish")
        }
        _ => "git publish".into(),
    }
}

fn q(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The commented site.toml.
pub fn render(a: &Answers) -> String {
    let mut t = render_source(a);
    t.push_str(&format!("[targets.{}]\n", target_key(&a.target)));
    t.push_str("# Where the site goes: s3://BUCKET, s3://BUCKET/PREFIX, gs://BUCKET[/PREFIX] (Google Cloud Storage),\n\
                # azblob://CONTAINER[/PREFIX] (Azure Blob Storage), or file:///DIR (a local directory).\n");
    t.push_str(&format!("url = {}\n", q(&a.url)));
    match a.url.split_once("://").map(|(scheme, _)| scheme) {
        Some("s3") => render_aws(a, &mut t),
        Some("gs") => t.push_str(
            "# Credentials: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth\n\
             # application-default login`, the metadata server); STORAGE_EMULATOR_HOST points at an emulator.\n",
        ),
        Some("azblob") => t.push_str(
            "# Credentials: AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or\n\
             # your Azure sign-in (`az login`, a service principal, a managed identity).\n",
        ),
        _ => {}
    }
    t.push_str("# Use this target when no --target is given.\ndefault = true\n");
    t.push_str(
        "# Refuse a publish that would delete more objects than this (--max-deletes N allows it once).\n\
         #max_deletes = 500\n",
    );
    match &a.zone {
        None => t.push_str(
            "# Most CloudFront paths per publish before collapsing to wildcards (1,000 a month are free).\n\
             #max_invalidation_paths = 15\n",
        ),
        Some(zone) => t.push_str(&format!(
            "\n# Cloudflare's cache in front of the R2 bucket: after each publish, the URLs whose content changed\n\
             # are purged on https://<domain>/ (CLOUDFLARE_API_TOKEN: a token with Zone.Cache Purge).\n\
             [targets.{}.cloudflare]\nzone = {}\n",
            target_key(&a.target),
            q(zone)
        )),
    }
    t
}

/// The file's opening comment and its `[source]` table.
fn render_source(a: &Answers) -> String {
    let mut t = String::new();
    let gen = a
        .generator
        .as_ref()
        .map(|g| format!(" for a {} site", g.generator))
        .unwrap_or_default();
    t.push_str(&format!(
        "# site.toml — configuration for git-publish, written by `git publish init`{gen}.\n\
         # Every key is documented in site.toml.example. Unknown keys are errors. Credentials never go here:\n\
         # git-publish uses the standard AWS chain (AWS_PROFILE or `profile` below, `aws sso login`,\n\
         # AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, instance and OIDC roles).\n\n[source]\n"
    ));
    if a.snapshot {
        render_snapshot(a, &mut t);
    } else {
        match &a.generator {
            Some(g) => t.push_str(&format!(
                "# The directory inside each commit that holds the generated site ({} writes it with `{}`).\n",
                g.generator, g.build
            )),
            None => t.push_str("# The directory inside each commit that holds the generated site (\"\" = the whole tree).\n"),
        }
        t.push_str(
            "# git-publish publishes commits, not the working tree: generate, commit, then `git publish`.\n",
        );
        t.push_str(&format!("dir = {}\n", q(&a.dir)));
    }
    t.push_str(
        "# The branch whose commits hold the site. Default: the checked-out branch.\n#branch = \"main\"\n\n",
    );
    t
}

/// `[source]` of snapshot builds: the output directory is ignored by git, so each publish builds it and commits it
/// to a ref of its own.
fn render_snapshot(a: &Answers, t: &mut String) {
    t.push_str(&format!(
        "# Snapshot builds: {dir}/ is ignored by git, so it is never in your commits. Each `git publish` runs\n\
         # build_command (`sh -c`, from the repository root), commits {dir}/ as it is on disk to snapshot_ref (never\n\
         # to your branch: the index, the working tree and HEAD are not touched) and publishes that commit.\n\
         build_dir = {}\n",
        q(&a.dir),
        dir = a.dir
    ));
    match &a.build_command {
        Some(b) => t.push_str(&format!("build_command = {}\n", q(b))),
        None => t.push_str("#build_command = \"hugo --minify\"\n"),
    }
    t.push_str(
        "# The build runs without the publisher's AWS_* variables (its credentials); \"inherit\" passes them on.\n\
         #build_env = \"clean\"\n\
         # Where the snapshots go. Push it (`git push origin site-builds`) so other clones and CI diff against it.\n\
         #snapshot_ref = \"refs/heads/site-builds\"\n",
    );
}

/// The keys of an S3 target: each given one set, the others commented out with an example.
fn render_aws(a: &Answers, t: &mut String) {
    let mut line = |comment: &str, key: &str, value: &Option<String>, example: &str| {
        t.push_str(comment);
        match value {
            Some(v) => t.push_str(&format!("{key} = {}\n", q(v))),
            None => t.push_str(&format!("#{key} = {}\n", q(example))),
        }
    };
    line(
        "# AWS region of the bucket. Default: AWS_REGION / the profile's region / us-east-1.\n",
        "region",
        &a.region,
        "us-east-1",
    );
    line(
        "# AWS profile from ~/.aws/config (SSO profiles work). Default: AWS_PROFILE, else the default chain.\n",
        "profile",
        &a.profile,
        "blog-deploy",
    );
    line(
        "# An S3-compatible endpoint (Cloudflare R2, MinIO, Backblaze B2). Default: AWS S3.\n",
        "endpoint",
        &a.endpoint,
        "https://ACCOUNT.r2.cloudflarestorage.com",
    );
    if let Some(domain) = &a.domain {
        t.push_str(&format!(
            "# The site's host name: Cloudflare's cache is purged at https://<domain>/<path>.\ndomain = {}\n",
            q(domain)
        ));
    }
    if a.zone.is_some() {
        t.push_str(
            "# Where the deploy record goes, out of what the site serves. Default: <url>/.git-publish/state.json\n\
             # (R2 has no bucket policy: if the bucket is public, put the record in a private one).\n",
        );
        render_state(a, t);
        return;
    }
    t.push_str(
        "# CloudFront distribution to invalidate after each publish: only URLs whose content changed.\n",
    );
    match &a.distribution {
        Some(d) if a.aliases.is_empty() => t.push_str(&format!("distribution = {}\n", q(d))),
        Some(d) => t.push_str(&format!(
            "distribution = {}  # {}\n",
            q(d),
            a.aliases.join(", ")
        )),
        None => t.push_str("#distribution = \"E2QWRUHAPOMQZL\"\n"),
    }
    t.push_str(
        "# Where the deploy record goes, out of what the site serves. Default: <url>/.git-publish/state.json\n\
         # (then keep it private with `git publish iam-policy --bucket-policy`).\n",
    );
    render_state(a, t);
}

fn render_state(a: &Answers, t: &mut String) {
    match &a.state {
        Some(st) => t.push_str(&format!("state = {}\n", q(st))),
        None => t.push_str("#state = \"s3://my-private-bucket/site.json\"\n"),
    }
}

/// `[targets.NAME]` with NAME quoted when it is not a bare TOML key.
fn target_key(name: &str) -> String {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        name.to_string()
    } else {
        q(name)
    }
}

fn bucket_of(url: &str) -> Option<&str> {
    url.strip_prefix("s3://")
        .map(|r| r.split('/').next().unwrap_or(r))
}

/// The distribution whose origin is this bucket (`BUCKET.s3.amazonaws.com`, `BUCKET.s3.REGION...`,
/// `BUCKET.s3-website-...`), when exactly one is.
pub fn suggest(list: &[DistributionInfo], bucket: &str) -> Option<usize> {
    let hits: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, d)| d.origins.iter().any(|(o, _)| origin_is_bucket(o, bucket)))
        .map(|(i, _)| i)
        .collect();
    (hits.len() == 1).then(|| hits[0])
}

/// One line per distribution, as the picker shows them.
pub fn distribution_lines(list: &[DistributionInfo], suggested: Option<usize>) -> Vec<String> {
    list.iter()
        .enumerate()
        .map(|(i, d)| {
            let names = if d.aliases.is_empty() {
                "(no aliases)".to_string()
            } else {
                d.aliases.join(", ")
            };
            let mut line = format!("  {:>2}) {}  {}  {}", i + 1, d.id, d.domain, names);
            if let Some((o, _)) = d.origins.first() {
                line.push_str(&format!("  origin {o}"));
            }
            if !d.enabled {
                line.push_str("  [disabled]");
            }
            if Some(i) == suggested {
                line.push_str("  <- origin is this bucket");
            }
            line
        })
        .collect()
}

/// Line-based prompts on stderr, answers from stdin.
struct Prompt {
    input: std::io::StdinLock<'static>,
}

impl Prompt {
    /// `question [default]: ` ([`crate::ui::ask`]); an empty answer takes the default.
    fn ask(&mut self, question: &str, default: Option<&str>) -> Result<String> {
        let prompt = match default {
            Some(d) if !d.is_empty() => format!("{question} [{d}]: "),
            _ => format!("{question}: "),
        };
        let answer = crate::ui::ask(&mut self.input, &prompt)
            .map_err(|e| Error::io("reading an answer from stdin", e))?;
        let Some(answer) = answer else {
            return Err(Error::Init {
                message: "input ended before every question was answered; nothing was written"
                    .into(),
                hint:
                    "answer on a terminal, or pass --yes with --url (and --region, --distribution)"
                        .into(),
            });
        };
        Ok(if answer.is_empty() {
            default.unwrap_or("").to_string()
        } else {
            answer
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (f, body) in files {
            let p = d.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, body).unwrap();
        }
        d
    }

    #[test]
    fn detects_each_generator_and_its_output_dir() {
        type Files<'a> = &'a [(&'a str, &'a str)];
        let cases: &[(Files, Option<(&str, &str)>)] = &[
            (
                &[
                    ("_config.yml", "title: x"),
                    ("package.json", r#"{"dependencies":{"hexo":"^7"}}"#),
                ],
                Some(("Hexo", "public")),
            ),
            (&[("hugo.toml", "baseURL = 'x'")], Some(("Hugo", "public"))),
            (
                &[
                    ("config.toml", "baseURL = 'x'"),
                    ("archetypes/default.md", ""),
                ],
                Some(("Hugo", "public")),
            ),
            (
                &[("_config.yml", "title: x"), ("Gemfile", "gem \"jekyll\"")],
                Some(("Jekyll", "_site")),
            ),
            (&[("_config.yml", "title: x")], Some(("Jekyll", "_site"))),
            (
                &[("config.toml", "base_url = \"https://x\"")],
                Some(("Zola", "public")),
            ),
            (&[(".eleventy.js", "")], Some(("Eleventy", "_site"))),
            (
                &[(
                    "package.json",
                    r#"{"devDependencies":{"@11ty/eleventy":"^3"}}"#,
                )],
                Some(("Eleventy", "_site")),
            ),
            (&[("astro.config.mjs", "")], Some(("Astro", "dist"))),
            (&[("vite.config.ts", "")], Some(("Vite", "dist"))),
            (&[("index.html", "")], None),
        ];
        for (files, want) in cases {
            let d = dir_with(files);
            let got = detect(d.path()).map(|g| (g.generator, g.dir));
            assert_eq!(got, *want, "{files:?}");
        }
    }

    fn dist(id: &str, origin: &str, aliases: &[&str]) -> DistributionInfo {
        DistributionInfo {
            id: id.into(),
            domain: format!("{}.cloudfront.net", id.to_lowercase()),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            origins: vec![(origin.into(), String::new())],
            enabled: true,
        }
    }

    #[test]
    fn suggests_the_distribution_whose_origin_is_the_bucket() {
        let list = vec![
            dist("E1", "other.s3.amazonaws.com", &[]),
            dist(
                "E2",
                "blog.s3.eu-west-1.amazonaws.com",
                &["blog.example.com"],
            ),
            dist("E3", "blog-old.s3.amazonaws.com", &[]),
        ];
        assert_eq!(suggest(&list, "blog"), Some(1));
        assert_eq!(suggest(&list, "nope"), None);
        let lines = distribution_lines(&list, Some(1));
        assert!(
            lines[1].contains("E2")
                && lines[1].contains("blog.example.com")
                && lines[1].ends_with("<- origin is this bucket"),
            "{lines:?}"
        );
    }

    #[test]
    fn gs_and_azblob_urls_get_their_credentials_and_no_aws_keys() {
        let root = Path::new("/repo");
        for (url, says, cloud) in [
            (
                "gs://my-bucket/blog",
                "GOOGLE_APPLICATION_CREDENTIALS",
                crate::config::Cloud::Gcs,
            ),
            (
                "azblob://site/blog",
                "AZURE_STORAGE_CONNECTION_STRING",
                crate::config::Cloud::AzBlob,
            ),
        ] {
            let a = Answers {
                dir: "public".into(),
                target: "production".into(),
                url: url.into(),
                ..Answers::default()
            };
            let text = render(&a);
            assert!(text.contains(says), "{text}");
            assert!(
                !text.contains("region") && !text.contains("distribution ="),
                "{text}"
            );
            let cfg = Config::from_str(&text, &root.join("site.toml"), root).unwrap();
            let t = cfg.target(None).unwrap();
            assert!(
                matches!(t.store.backend, Backend::Cloud { cloud: c, .. } if c == cloud),
                "{:?}",
                t.store.backend
            );
        }
    }

    #[test]
    fn the_written_file_parses_for_s3_and_local_targets() {
        let root = Path::new("/repo");
        let path = root.join("site.toml");
        let a = Answers {
            generator: Some(detect(dir_with(&[("hugo.toml", "")]).path()).unwrap()),
            dir: "public".into(),
            target: "prod.eu".into(),
            url: "s3://my-bucket/blog".into(),
            region: Some("eu-west-1".into()),
            distribution: Some("E2QWRUHAPOMQZL".into()),
            aliases: vec!["blog.example.com".into()],
            ..Answers::default()
        };
        let cfg = Config::from_str(&render(&a), &path, root).unwrap();
        let t = cfg.target(None).unwrap();
        assert_eq!(t.name, "prod.eu");
        assert_eq!(
            t.cdn.distributions,
            vec![crate::config::Distribution::Id("E2QWRUHAPOMQZL".into())]
        );
        assert_eq!(t.store.region.as_deref(), Some("eu-west-1"));
        assert_eq!(cfg.source.dir, "public");
        assert!(t.store.state.is_none());
        let private = Answers {
            state: Some("s3://private-bucket/site.json".into()),
            ..a
        };
        let cfg = Config::from_str(&render(&private), &path, root).unwrap();
        let st = cfg.target(None).unwrap().store.state.clone().unwrap();
        assert_eq!(st.key, "site.json");

        let local = Answers {
            dir: "_site".into(),
            target: "www".into(),
            url: "file:///srv/www".into(),
            ..Answers::default()
        };
        let text = render(&local);
        assert!(!text.contains("distribution"), "{text}");
        Config::from_str(&text, &path, root).unwrap();
    }

    /// The template names only keys of `config/keys.rs::KEYS`, each commented-out line shows the table's
    /// default, and with every such line uncommented it still parses.
    #[test]
    fn the_template_agrees_with_the_key_table() {
        let (root, path) = (Path::new("/repo"), Path::new("/repo/site.toml"));
        let s3 = Answers {
            dir: "public".into(),
            target: "production".into(),
            url: "s3://my-bucket/blog".into(),
            ..Answers::default()
        };
        let full = Answers {
            region: Some("eu-west-1".into()),
            profile: Some("blog".into()),
            endpoint: Some("https://s3.example.com".into()),
            distribution: Some("E2QWRUHAPOMQZL".into()),
            state: Some("s3://private-bucket/site.json".into()),
            ..s3.clone()
        };
        let snapshot = Answers {
            snapshot: true,
            ..s3.clone()
        };
        let built = Answers {
            build_command: Some("hugo --minify".into()),
            ..snapshot.clone()
        };
        let local = Answers {
            url: "file:///srv/www".into(),
            ..s3.clone()
        };
        let r2 = Answers {
            region: Some("auto".into()),
            endpoint: Some("https://0123abcd.r2.cloudflarestorage.com".into()),
            domain: Some("blog.example.com".into()),
            zone: Some("023e105f4ecef8ad9ca31a8372d0c353".into()),
            ..s3.clone()
        };
        for a in [s3, full, snapshot, built, local, r2] {
            let text = render(&a);
            let problems = crate::config::keys::template_problems(&text);
            assert!(problems.is_empty(), "{}\n{text}", problems.join("\n"));
            let uncommented: String = (text.lines())
                .map(|l| match l.strip_prefix('#') {
                    Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                    _ => l,
                })
                .map(|l| format!("{l}\n"))
                .collect();
            Config::from_str(&uncommented, path, root)
                .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
        }
    }
}
