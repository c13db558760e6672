//! What a `git push` command line asks for, read the way git reads it: whether it is a dry run. Git's
//! option parser takes any unambiguous prefix of a long option (`--dry`, `--dr`), `--no-` negations (the
//! last one wins), short flags bundled (`-nv`), options after the refspecs, values of options that take one
//! (`-o n`, `--repo -n`), `--` and `--end-of-options`; and a `git` command line may reach `push` through
//! global options and aliases. The porcelain report of `git push --dry-run` is the same as a real push's, so
//! the command line is all there is to go by. When a line can't be read as git would read it, the answer is
//! an error, never a guess. It reads no files and runs nothing: aliases are looked up by the caller.

/// Whether an option takes a value, and how.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    None,
    /// Attached (`--opt=v`) or the next argument.
    Required,
    /// Attached only (`--opt=v`).
    Optional,
}

struct Opt {
    long: &'static str,
    short: Option<char>,
    value: Value,
}

const fn opt(long: &'static str, short: Option<char>, value: Value) -> Opt {
    Opt { long, short, value }
}

/// The options of `git push` (git 2.47; 2.39 has the same ones, without `--branches`).
const PUSH_OPTIONS: &[Opt] = &[
    opt("verbose", Some('v'), Value::None),
    opt("quiet", Some('q'), Value::None),
    opt("repo", None, Value::Required),
    opt("all", None, Value::None),
    opt("branches", None, Value::None),
    opt("mirror", None, Value::None),
    opt("delete", Some('d'), Value::None),
    opt("tags", None, Value::None),
    opt("dry-run", Some('n'), Value::None),
    opt("porcelain", None, Value::None),
    opt("force", Some('f'), Value::None),
    opt("force-with-lease", None, Value::Optional),
    opt("force-if-includes", None, Value::None),
    opt("recurse-submodules", None, Value::Required),
    opt("thin", None, Value::None),
    opt("receive-pack", None, Value::Required),
    opt("exec", None, Value::Required),
    opt("set-upstream", Some('u'), Value::None),
    opt("progress", None, Value::None),
    opt("prune", None, Value::None),
    opt("no-verify", None, Value::None),
    opt("follow-tags", None, Value::None),
    opt("signed", None, Value::Optional),
    opt("atomic", None, Value::None),
    opt("push-option", Some('o'), Value::Required),
    opt("ipv4", Some('4'), Value::None),
    opt("ipv6", Some('6'), Value::None),
];

/// Whether `git push ARGS` (the arguments after `push`) is a dry run; an error (what git would refuse, or
/// this parser does not know) when that can't be told.
pub fn is_dry_run(args: &[String]) -> Result<bool, String> {
    let mut dry = false;
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" || a == "--end-of-options" {
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (long, None),
            };
            let (o, negated) = long_option(name)?;
            if o.long == "dry-run" {
                dry = !negated;
            }
            match (o.value, attached, negated) {
                (Value::None, Some(_), _) | (_, Some(_), true) => {
                    return Err(format!("option `--{name}` takes no value"))
                }
                (Value::Required, None, false) => i += 1,
                _ => {}
            }
        } else if a.len() > 1 && a.starts_with('-') {
            for (at, c) in a.char_indices().skip(1) {
                let o = short_option(c)?;
                if c == 'n' {
                    dry = true;
                }
                if o.value == Value::Required {
                    // The rest of the word is its value; else the next argument is.
                    if at + c.len_utf8() == a.len() {
                        i += 1;
                    }
                    break;
                }
            }
        }
    }
    Ok(dry)
}

fn short_option(c: char) -> Result<&'static Opt, String> {
    PUSH_OPTIONS
        .iter()
        .find(|o| o.short == Some(c))
        .ok_or_else(|| format!("unknown option `-{c}`"))
}

/// The option `--name` means, and whether it is negated: an exact spelling, else the only option that it
/// abbreviates (a negation of an option is the same option).
fn long_option(name: &str) -> Result<(&'static Opt, bool), String> {
    let mut found: Vec<(&'static Opt, bool)> = Vec::new();
    for o in PUSH_OPTIONS {
        // `--no-verify` is negated as `--verify`; every other option as `--no-<name>`.
        let negation = match o.long.strip_prefix("no-") {
            Some(rest) => rest.to_string(),
            None => format!("no-{}", o.long),
        };
        for (spelling, negated) in [(o.long, false), (negation.as_str(), true)] {
            if spelling == name {
                return Ok((o, negated));
            }
            if !name.is_empty() && spelling.starts_with(name) {
                found.push((o, negated));
            }
        }
    }
    match found.as_slice() {
        [] => Err(format!("unknown option `--{name}`")),
        [first, rest @ ..] if rest.iter().all(|(o, _)| o.long == first.0.long) => Ok(*first),
        _ => Err(format!("ambiguous option `--{name}`")),
    }
}

/// The options of `git` itself (before the command) whose value is the next argument.
const GIT_OPTIONS_WITH_VALUE: &[&str] = &[
    "-C",
    "-c",
    "--git-dir",
    "--work-tree",
    "--namespace",
    "--super-prefix",
    "--config-env",
    "--attr-source",
    "--shallow-file",
];

/// The arguments after `push` in a `git` command line (`argv` of the `git push` process): past git's own
/// options, through aliases (`alias(name)` is the value of `alias.<name>`). None when the line does not
/// run `git push`, or goes through a shell alias.
pub fn push_args(argv: &[String], alias: impl Fn(&str) -> Option<String>) -> Option<Vec<String>> {
    let program = argv.first()?.rsplit('/').next()?;
    if program == "git-push" {
        return Some(argv[1..].to_vec());
    }
    if program != "git" {
        return None;
    }
    let mut words = argv[1..].to_vec();
    // Aliases may name aliases; git stops at a loop, and so does this, a little earlier.
    for _ in 0..16 {
        let at = command_at(&words)?;
        let command = words[at].as_str();
        if command == "push" {
            return Some(words[at + 1..].to_vec());
        }
        let expanded = split_alias(&alias(command)?)?;
        words = [&words[..at], &expanded[..], &words[at + 1..]].concat();
    }
    None
}

/// Where the command is in `words` (the arguments of `git`): the first one that is not one of git's options
/// or an option's value.
fn command_at(words: &[String]) -> Option<usize> {
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        if !w.starts_with('-') {
            return Some(i);
        }
        i += if GIT_OPTIONS_WITH_VALUE.contains(&w) {
            2
        } else {
            1
        };
    }
    None
}

/// An alias's value split into words as git splits it (quotes and backslashes); None for a shell alias
/// (`!…`, which runs its own `git push`) or unbalanced quotes.
fn split_alias(value: &str) -> Option<Vec<String>> {
    if value.starts_with('!') {
        return None;
    }
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (Some(q), c) if c == q => quote = None,
            (None, '"' | '\'') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (q, '\\') if q != Some('\'') => {
                word.get_or_insert_with(String::new).push(chars.next()?)
            }
            _ => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    quote.is_none().then_some(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Vec<String> {
        s.split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn dry_runs_as_git_reads_them() {
        let yes = [
            "--dry-run origin main",
            "--dry origin",
            "--dr",
            "--dry-ru",
            "-n",
            "-nv",
            "-vn",
            "-fnu origin",
            "origin main --dry",
            "--no-dry-run -n",
            "--repo=x -n",
            "--force-with-lease -n",
            "--signed -n",
        ];
        for line in yes {
            assert_eq!(is_dry_run(&v(line)), Ok(true), "{line}");
        }
        let no = [
            "origin main",
            "--no-verify origin",
            "-n --no-dry-run",
            "-n --no-dry",
            "-o n origin",
            "-on origin",
            "--repo -n origin",
            "--push-option -n",
            "--recurse-submodules -n",
            "origin -- -n",
            "--end-of-options -n",
            "-vq",
            "--verify",
        ];
        for line in no {
            assert_eq!(is_dry_run(&v(line)), Ok(false), "{line}");
        }
        for bad in ["--d", "--no", "--dry-run=yes", "-x", "--frobnicate", "--f"] {
            assert!(is_dry_run(&v(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn push_arguments_through_git_options_and_aliases() {
        let alias = |name: &str| match name {
            "pd" => Some("push --dry".to_string()),
            "p2" => Some("-c a.b=c pd".to_string()),
            "q" => Some("push -o 'two words' \"-n\"".to_string()),
            "sh" => Some("!git push -n".to_string()),
            "loop" => Some("loop".to_string()),
            _ => None,
        };
        let args = |line: &str| push_args(&v(line), alias);
        assert_eq!(args("git push origin main"), Some(v("origin main")));
        assert_eq!(
            args("/usr/bin/git -C dir -c x=y --bare push -n"),
            Some(v("-n"))
        );
        assert_eq!(args("git-push -n"), Some(v("-n")));
        assert_eq!(args("git pd origin"), Some(v("--dry origin")));
        assert_eq!(args("git p2 origin"), Some(v("--dry origin")));
        assert_eq!(
            args("git q"),
            Some(vec!["-o".into(), "two words".into(), "-n".into()])
        );
        assert_eq!(args("git sh"), None);
        assert_eq!(args("git loop"), None);
        assert_eq!(args("git nothing"), None);
        assert_eq!(args("sh .husky/pre-push origin"), None);
        assert_eq!(args("git -c"), None);
    }
}
