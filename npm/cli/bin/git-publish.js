#!/usr/bin/env node
// Launcher of @git-publish/cli (the esbuild/biome pattern): npm installed the one optional dependency that
// matches this OS and CPU, @git-publish/<platform>-<arch>, which holds the native binary. Run it with our
// arguments and exit with its status. The binary is run in place, never copied, so the hooks that
// `git-publish install` writes record its absolute path inside node_modules and keep working outside npm scripts.
// GIT_PUBLISH_NPM_PACKAGE tells the binary which package launched it, so that the commands it suggests name it
// (`npx --package=@git-publish/cli git-publish ...`): the registry's plain `git-publish` is someone else's.
"use strict";
const { spawnSync } = require("child_process");
const path = require("path");
const launcher = require("../package.json").name;

function binaryPath() {
  if (process.env.GIT_PUBLISH_BINARY) return process.env.GIT_PUBLISH_BINARY;
  const pkg = `@git-publish/${process.platform}-${process.arch}`;
  const exe = process.platform === "win32" ? "git-publish.exe" : "git-publish";
  try {
    return require.resolve(`${pkg}/bin/${exe}`);
  } catch (e) {
    // A sibling install layout (pnpm, yarn) or a global one: look next to this package.
    const sibling = path.join(__dirname, "..", "..", pkg, "bin", exe);
    if (require("fs").existsSync(sibling)) return sibling;
    console.error(
      `git-publish: no binary for ${process.platform}-${process.arch}: the package ${pkg} is not installed.\n` +
        `Reinstall without --omit=optional / --no-optional, or install a binary (see INSTALL.md) and set ` +
        `GIT_PUBLISH_BINARY to its path.`
    );
    process.exit(1);
  }
}

const env = Object.assign({}, process.env, { GIT_PUBLISH_NPM_PACKAGE: launcher });
const r = spawnSync(binaryPath(), process.argv.slice(2), { stdio: "inherit", windowsHide: true, env });
if (r.error) {
  console.error(`git-publish: ${r.error.message}`);
  process.exit(1);
}
if (r.signal) process.kill(process.pid, r.signal);
process.exit(r.status === null ? 1 : r.status);
