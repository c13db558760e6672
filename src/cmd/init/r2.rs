//! `init`'s questions for a bucket on Cloudflare R2 (the endpoint is R2's): region `auto`, no CloudFront, and
//! Cloudflare's cache in front: the zone and the site's host its URLs are purged on. `render` writes them.

use super::{command_prefix, Answers, Questions};
use crate::error::{Error, Result};
use crate::ui::Ui;

impl Questions<'_> {
    /// A bucket on Cloudflare R2 (the endpoint is R2's): region `auto`, no CloudFront, and Cloudflare's cache:
    /// the zone and the site's host its URLs are purged on (flags, else asked).
    pub(super) fn r2(&mut self, a: &mut Answers, ui: &Ui) -> Result<()> {
        let args = self.args;
        if args.region.as_deref().is_some_and(|r| r != "auto") {
            ui.warn("--region is ignored for an R2 endpoint: R2's region is \"auto\"");
        }
        if args.distribution.is_some() {
            ui.warn("--distribution is ignored for an R2 endpoint: Cloudflare's cache is purged instead");
        }
        a.region = Some("auto".into());
        a.zone = Some(self.r2_answer(
            &args.cloudflare_zone,
            "--cloudflare-zone",
            "Cloudflare zone ID of the site's domain (32 hex digits, on the zone's Overview page)",
        )?);
        a.domain = Some(self.r2_answer(
            &args.domain,
            "--domain",
            "The site's host name on that zone (e.g. blog.example.com)",
        )?);
        ui.note(
            "R2: publishing needs an R2 API token with Object Read & Write on the bucket (its access key id and \
             secret as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY) and CLOUDFLARE_API_TOKEN, a token with \
             Zone.Cache Purge on the zone; `git publish doctor` checks both. R2 has no bucket policy: if the \
             bucket is public, keep the deploy record elsewhere with `state` (see the README, \"Cloudflare R2\")",
        );
        Ok(())
    }

    /// The flag's value, else (interactive) the answer to `question`; with --yes and no flag, the error names it.
    fn r2_answer(&mut self, flag: &Option<String>, name: &str, question: &str) -> Result<String> {
        match (flag, self.interactive) {
            (Some(v), _) => Ok(v.clone()),
            (None, true) => self.prompt.ask(question, None),
            (None, false) => Err(Error::Init {
                message: format!("an R2 endpoint needs {name}: Cloudflare's cache in front of it is purged"),
                hint: format!(
                    "pass --cloudflare-zone ZONE_ID and --domain HOST, e.g. `{} init --yes --url s3://my-bucket \
                     --endpoint https://ACCOUNT.r2.cloudflarestorage.com --cloudflare-zone 023e105f4ecef8ad9ca31a8372d0c353 \
                     --domain blog.example.com`",
                    command_prefix()
                ),
            }),
        }
    }
}
