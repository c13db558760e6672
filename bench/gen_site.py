#!/usr/bin/env python3
"""Generate a deterministic synthetic blog of exactly N files in a git repo.

    gen_site.py --n 2000 --out work/sites/n2000 [--seed 1] [--size-scale 1.0]

The repo has the site under public/ and three commits on branch main, also
tagged:

    bench-initial   the site (N files)
    bench-newpost   one new post (index.html + cover image) added; home, feed,
                    sitemap, search index, one tag page, one category page, one
                    archive page and the previous post (its "next" link)
                    modified: 2 added + 8 modified = 10 changed files
    bench-regen     empty commit (a generator rewrote every file with identical
                    bytes; git sees no change). The benchmark rewrites the
                    working-tree files itself to give them fresh mtimes.
    bench-theme     a theme change: every HTML page rewritten (its stylesheet
                    link renamed), as Hexo or Hugo do on a new theme or a
                    layout change; nothing else changes.

Layout: posts/<slug>/index.html (+ images for ~10% of posts), page/<n>/ (home
pagination), tags/<t>/, categories/<c>/, archives/<year>/[page/<n>/],
index.html, feed.xml, sitemap.xml, search.json, 404.html, robots.txt,
css/ js/ fonts/ images/. Sizes: HTML lognormal (median ~10 KB, clipped to
5-40 KB), images log-uniform 20-300 KB, fonts ~50 KB; about 20 KB per file on
average (N=2000 ~ 40 MB, N=20000 ~ 400 MB). --size-scale multiplies every
size (the planning benchmark uses a small scale to keep 100k-file sites small).

Everything derives from --seed; author/committer identity and dates are fixed,
so the same arguments give the same commit ids. A manifest is written to
OUT.json last; if it exists with the same parameters the repo is reused.
"""
import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys

GEN_VERSION = 4
BASE_TS = 1_700_000_000  # fixed "now" for git dates
POSTS_START = 1_262_304_000  # 2010-01-01
_CONTENT = {}

WORDS = None


def vocab(rng):
    syll = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "xe", "ya", "zu", "qua", "ber", "dor",
            "fin", "gal", "hem", "jin", "kor", "lum", "mar", "nix", "pol", "ras", "sol", "tek",
            "urb", "vel", "wex", "zan"]
    out = set()
    while len(out) < 600:
        out.add("".join(rng.choice(syll) for _ in range(rng.randint(1, 4))))
    return sorted(out)


class Content:
    """Deterministic filler: text and binary blocks sliced at seeded offsets."""

    def __init__(self, seed):
        rng = random.Random(f"{seed}-corpus")
        words = vocab(rng)
        self.words = words
        parts = []
        size = 0
        while size < 1_200_000:
            sent = " ".join(rng.choice(words) for _ in range(rng.randint(6, 18)))
            sent = sent.capitalize() + ". "
            if rng.random() < 0.15:
                sent = "</p>\n<p>" + sent
            parts.append(sent)
            size += len(sent)
        self.text = "".join(parts)
        self.binary = rng.randbytes(1_200_000)

    def filler(self, rng, n):
        n = max(0, n)
        out = []
        while n > 0:
            take = min(n, len(self.text) - 1)
            off = rng.randrange(0, len(self.text) - take)
            out.append(self.text[off:off + take])
            n -= take
        return "".join(out)

    def blob(self, rng, n):
        n = max(0, n)
        out = []
        while n > 0:
            take = min(n, len(self.binary) - 1)
            off = rng.randrange(0, len(self.binary) - take)
            out.append(self.binary[off:off + take])
            n -= take
        return b"".join(out)


def html_size(rng, scale):
    s = rng.lognormvariate(math.log(10_000), 0.6)
    return int(min(40_000, max(5_000, s)) * scale)


def image_size(rng, scale):
    return int(math.exp(rng.uniform(math.log(20_000), math.log(300_000))) * scale)


class Site:
    def __init__(self, n_posts, seed, scale):
        self.seed = seed
        self.scale = scale
        if seed not in _CONTENT:
            _CONTENT[seed] = Content(seed)
        self.c = _CONTENT[seed]
        rng = random.Random(f"{seed}-site")
        self.n_tags = max(5, n_posts // 8)
        self.n_cats = max(3, min(25, n_posts // 40))
        self.tags = [f"{rng.choice(self.c.words)}-{i}" for i in range(self.n_tags)]
        self.cats = [f"{rng.choice(self.c.words)}-{i}" for i in range(self.n_cats)]
        self.posts = [self.make_post(i) for i in range(n_posts + 1)]  # last one = the new post
        self.n_posts = n_posts

    def make_post(self, i):
        rng = random.Random(f"{self.seed}-post-{i}")
        title = " ".join(rng.choice(self.c.words) for _ in range(rng.randint(3, 7))).capitalize()
        slug = f"{i:06d}-" + "-".join(title.lower().split()[:4])
        ts = POSTS_START + i * 43_200 + rng.randrange(0, 3_000)  # two posts a day from 2010 on
        year = 1970 + ts // 31_556_952
        r = rng.random()
        n_img = 2 if r < 0.01 else (1 if r < 0.09 else 0)
        imgs = []
        for k in range(n_img):
            ext = rng.choice(["jpg", "jpg", "png", "webp"])
            imgs.append((f"img-{k}.{ext}", image_size(rng, self.scale)))
        tags = sorted(set(rng.randrange(self.n_tags) for _ in range(rng.randint(1, 3))))
        return {
            "i": i, "title": title, "slug": slug, "ts": ts, "year": year, "imgs": imgs,
            "tags": tags, "cat": rng.randrange(self.n_cats), "size": html_size(rng, self.scale),
        }

    # ---------- page renderers ----------
    def page(self, path, title, body_items, size, ver=1):
        rng = random.Random(f"{self.seed}-page-{path}-{ver}")
        head = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{title}</title><link rel=\"stylesheet\" href=\"/css/main.css\">"
                f"<script src=\"/js/main.js\" defer></script></head>\n<body><main>\n<h1>{title}</h1>\n")
        items = "".join(f"<article><a href=\"/posts/{p['slug']}/\">{p['title']}</a></article>\n"
                        for p in body_items)
        tail = "</p>\n</main><footer>&copy; Synthetic Blog</footer></body></html>\n"
        filler = self.c.filler(rng, size - len(head) - len(items) - len(tail) - 3)
        return (head + items + "<p>" + filler + tail).encode()

    def post_page(self, p, nxt=None):
        rng = random.Random(f"{self.seed}-postbody-{p['i']}")
        imgs = "".join(f"<img src=\"{name}\" alt=\"\">\n" for name, _ in p["imgs"])
        nav = f"<nav><a rel=\"next\" href=\"/posts/{nxt['slug']}/\">{nxt['title']}</a></nav>\n" if nxt else ""
        head = (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{p['title']}</title><link rel=\"stylesheet\" href=\"/css/main.css\"></head>\n"
                f"<body><article><h1>{p['title']}</h1>\n{imgs}<p>")
        tail = f"</p></article>\n{nav}</body></html>\n"
        return (head + self.c.filler(rng, p["size"] - len(head) - len(tail)) + tail).encode()

    def image(self, p, name, size):
        rng = random.Random(f"{self.seed}-img-{p['slug']}-{name}")
        magic = {"jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "png": b"\x89PNG\r\n\x1a\n",
                 "webp": b"RIFF\x00\x00\x00\x00WEBPVP8 "}[name.rsplit(".", 1)[1]]
        tag = f"{p['slug']}/{name}".encode()
        return magic + tag + self.c.blob(rng, size - len(magic) - len(tag))

    def files(self, n_posts, ver):
        """Yield (path, bytes) of the site with the first n_posts posts."""
        posts = self.posts[:n_posts]
        newest = list(reversed(posts))
        per = 10
        scale = self.scale
        srng = random.Random(f"{self.seed}-static")
        # static assets (content does not depend on the posts)
        for name, lo, hi in [("main.css", 30_000, 60_000), ("syntax.css", 8_000, 15_000),
                             ("print.css", 3_000, 6_000), ("fonts.css", 2_000, 4_000)]:
            size = int(srng.uniform(lo, hi) * scale)
            yield f"css/{name}", (f"/* {name} */\n" + self.c.filler(random.Random(name), size)).encode()
        for name, lo, hi in [("main.js", 20_000, 90_000), ("search.js", 10_000, 30_000),
                             ("vendor.js", 60_000, 120_000), ("analytics.js", 2_000, 5_000)]:
            size = int(srng.uniform(lo, hi) * scale)
            yield f"js/{name}", (f"// {name}\n" + self.c.filler(random.Random(name), size)).encode()
        for name in ["inter-regular", "inter-bold", "inter-italic", "mono-regular"]:
            size = int(srng.uniform(45_000, 55_000) * scale)
            yield f"fonts/{name}.woff2", b"wOF2" + self.c.blob(random.Random(name), size)
        for name, lo, hi in [("logo.png", 8_000, 20_000), ("avatar.jpg", 20_000, 60_000),
                             ("og-default.png", 40_000, 120_000)]:
            size = int(srng.uniform(lo, hi) * scale)
            yield f"images/{name}", b"\x89PNG" + self.c.blob(random.Random(name), size)
        yield "favicon.ico", b"\x00\x00\x01\x00" + self.c.blob(random.Random("ico"), int(4_000 * scale))
        yield "robots.txt", b"User-agent: *\nAllow: /\nSitemap: https://blog.example/sitemap.xml\n"
        yield "404.html", self.page("404.html", "Not found", [], int(6_000 * scale))
        # posts
        for k, p in enumerate(posts):
            nxt = posts[k + 1] if k + 1 < len(posts) else None
            yield f"posts/{p['slug']}/index.html", self.post_page(p, nxt)
            for name, size in p["imgs"]:
                yield f"posts/{p['slug']}/{name}", self.image(p, name, size)
        # home + pagination
        pages = max(1, math.ceil(len(newest) / per))
        yield "index.html", self.page("index.html", "Home", newest[:per], html_size(random.Random("home"), scale), ver)
        for n in range(2, pages + 1):
            path = f"page/{n}/index.html"
            yield path, self.page(path, f"Page {n}", newest[(n - 1) * per:n * per],
                                  html_size(random.Random(path), scale))
        # tags and categories: one page each (lists the 10 newest)
        by_tag = {t: [] for t in range(self.n_tags)}
        by_cat = {c: [] for c in range(self.n_cats)}
        for p in newest:
            for t in p["tags"]:
                by_tag[t].append(p)
            by_cat[p["cat"]].append(p)
        yield "tags/index.html", self.page("tags/index.html", "Tags", [], html_size(random.Random("tags"), scale))
        for t, ps in by_tag.items():
            path = f"tags/{self.tags[t]}/index.html"
            yield path, self.page(path, f"Tag {self.tags[t]}", ps[:per], html_size(random.Random(path), scale), ver)
        yield "categories/index.html", self.page("categories/index.html", "Categories", [],
                                                 html_size(random.Random("cats"), scale))
        for c, ps in by_cat.items():
            path = f"categories/{self.cats[c]}/index.html"
            yield path, self.page(path, f"Category {self.cats[c]}", ps[:per], html_size(random.Random(path), scale), ver)
        # archives: per year, paginated (page 1 = newest)
        by_year = {}
        for p in newest:
            by_year.setdefault(p["year"], []).append(p)
        yield "archives/index.html", self.page("archives/index.html", "Archives", [],
                                               html_size(random.Random("arch"), scale))
        for y, ps in by_year.items():
            path = f"archives/{y}/index.html"
            yield path, self.page(path, f"Archive {y}", ps[:per], html_size(random.Random(path), scale), ver)
            for n in range(2, math.ceil(len(ps) / per) + 1):
                path = f"archives/{y}/page/{n}/index.html"
                yield path, self.page(path, f"Archive {y} page {n}", ps[(n - 1) * per:n * per],
                                      html_size(random.Random(path), scale))
        # feed, sitemap, search index (structural: list the posts)
        items = "".join(
            f"<item><title>{p['title']}</title><link>https://blog.example/posts/{p['slug']}/</link>"
            f"<pubDate>{p['ts']}</pubDate><description>{self.c.filler(random.Random(p['slug']), int(2_000 * scale))}"
            f"</description></item>\n" for p in newest[:20])
        yield "feed.xml", ("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>Blog</title>\n"
                           + items + "</channel></rss>\n").encode()
        urls = "".join(f"<url><loc>https://blog.example/posts/{p['slug']}/</loc><lastmod>{p['ts']}</lastmod></url>\n"
                       for p in newest)
        yield "sitemap.xml", ("<?xml version=\"1.0\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\">\n"
                              + urls + "</urlset>\n").encode()
        yield "search.json", json.dumps(
            [{"t": p["title"], "u": f"/posts/{p['slug']}/", "s": self.c.filler(random.Random("s" + p["slug"]),
                                                                               int(150 * max(scale, 0.2)))}
             for p in newest], separators=(",", ":")).encode()


def count_files(n_posts, seed, scale):
    site = Site(n_posts, seed, scale)
    p = site.posts[:n_posts]
    per = 10
    n = 4 + 4 + 4 + 3 + 3  # css js fonts images favicon robots 404
    n += sum(1 + len(x["imgs"]) for x in p)
    n += max(1, math.ceil(n_posts / per))
    n += 1 + site.n_tags + 1 + site.n_cats + 1
    years = {}
    for x in p:
        years[x["year"]] = years.get(x["year"], 0) + 1
    n += sum(max(1, math.ceil(c / per)) for c in years.values())
    n += 3
    return n, site


def git(repo, *args, env=None, capture=False):
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("GIT_"):
            del e[k]
    e.update({"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null",
              "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
              "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid"})
    if env:
        e.update(env)
    r = subprocess.run(["git", "-C", repo, *args], env=e, check=True,
                       stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    return r.stdout.decode().strip() if capture else None


def write_tree(root, files):
    total = 0
    count = 0
    for path, data in files:
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)
        total += len(data)
        count += 1
    return count, total


def retheme(pub):
    """The theme commit's change: every HTML page links another stylesheet. Returns how many changed."""
    n = 0
    for root, _, names in os.walk(pub):
        for name in names:
            if not name.endswith(".html"):
                continue
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            new = data.replace(b'href="/css/main.css"', b'href="/css/theme-2.css"', 1)
            if new == data:
                new = data.replace(b"<head>", b'<head><link rel="stylesheet" href="/css/theme-2.css">', 1)
            with open(path, "wb") as f:
                f.write(new)
            n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True, help="number of files in the site")
    ap.add_argument("--out", required=True, help="repo directory to create")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size-scale", type=float, default=1.0)
    ap.add_argument("--force", action="store_true", help="regenerate even if a matching manifest exists")
    args = ap.parse_args()

    out = os.path.abspath(args.out)
    manifest_path = out + ".json"
    params = {"gen_version": GEN_VERSION, "n": args.n, "seed": args.seed, "size_scale": args.size_scale}
    if not args.force and os.path.exists(manifest_path):
        with open(manifest_path) as f:
            m = json.load(f)
        if m.get("params") == params and os.path.isdir(os.path.join(out, ".git")):
            loose = git(out, "count-objects", capture=True).split()[0]
            if int(loose) > 1000:
                git(out, "repack", "-a", "-d", "-q")
            print(json.dumps(m))
            return
    if os.path.exists(manifest_path):
        os.remove(manifest_path)

    # find the number of posts whose site has <= N-? files, then pad with gallery images
    lo, hi = 1, max(2, args.n)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_files(mid, args.seed, args.size_scale)[0] <= args.n:
            lo = mid
        else:
            hi = mid - 1
    n_posts = lo
    n_base, site = count_files(n_posts, args.seed, args.size_scale)
    pad = args.n - n_base
    if pad < 0:
        sys.exit(f"N={args.n} is too small for this generator (minimum {n_base})")

    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    git(out, "init", "-q", "-b", "main")
    pub = os.path.join(out, "public")

    grng = random.Random(f"{args.seed}-gallery")

    def gallery():
        for k in range(pad):
            size = image_size(grng, args.size_scale)
            yield f"images/gallery/{k:05d}.jpg", b"\xff\xd8\xff" + site.c.blob(random.Random(f"g{k}"), size)

    def all_files(n, ver):
        yield from site.files(n, ver)
        yield from gallery()

    count, total = write_tree(pub, all_files(n_posts, 1))
    assert count == args.n, (count, args.n)
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("Synthetic blog generated by bench/gen_site.py; the site is in public/.\n")
    date = {"GIT_AUTHOR_DATE": f"@{BASE_TS} +0000", "GIT_COMMITTER_DATE": f"@{BASE_TS} +0000"}
    git(out, "add", "-A")
    git(out, "commit", "-q", "-m", "initial site", env=date)
    git(out, "tag", "bench-initial")
    c0 = git(out, "rev-parse", "HEAD", capture=True)

    # newpost: write only the 10 files a generator would change for one new post
    newp = site.posts[n_posts]
    prev = site.posts[n_posts - 1]
    want = {f"posts/{newp['slug']}/index.html", f"posts/{prev['slug']}/index.html", "index.html",
            "feed.xml", "sitemap.xml", "search.json",
            f"tags/{site.tags[newp['tags'][0]]}/index.html", f"categories/{site.cats[newp['cat']]}/index.html",
            f"archives/{newp['year']}/index.html"}
    if not newp["imgs"]:
        newp["imgs"] = [("cover.jpg", image_size(random.Random("cover"), args.size_scale))]
    want |= {f"posts/{newp['slug']}/{name}" for name, _ in newp["imgs"][:1]}
    newp["imgs"] = newp["imgs"][:1]
    changed = []
    # the post's page links to its one image
    for path, data in site.files(n_posts + 1, 2):
        if path in want:
            full = os.path.join(pub, path)
            added = not os.path.exists(full)
            if not added:
                with open(full, "rb") as f:
                    if f.read() == data:
                        continue
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "wb") as f:
                f.write(data)
            changed.append(("A" if added else "M", path))
    date = {"GIT_AUTHOR_DATE": f"@{BASE_TS + 86400} +0000", "GIT_COMMITTER_DATE": f"@{BASE_TS + 86400} +0000"}
    git(out, "add", "-A")
    git(out, "commit", "-q", "-m", "new post", env=date)
    git(out, "tag", "bench-newpost")
    c1 = git(out, "rev-parse", "HEAD", capture=True)
    date = {"GIT_AUTHOR_DATE": f"@{BASE_TS + 2 * 86400} +0000", "GIT_COMMITTER_DATE": f"@{BASE_TS + 2 * 86400} +0000"}
    git(out, "commit", "-q", "--allow-empty", "-m", "regenerate (identical output)", env=date)
    git(out, "tag", "bench-regen")
    c2 = git(out, "rev-parse", "HEAD", capture=True)
    theme = retheme(pub)
    date = {"GIT_AUTHOR_DATE": f"@{BASE_TS + 3 * 86400} +0000", "GIT_COMMITTER_DATE": f"@{BASE_TS + 3 * 86400} +0000"}
    git(out, "add", "-A")
    git(out, "commit", "-q", "-m", "theme change (every page rewritten)", env=date)
    git(out, "tag", "bench-theme")
    c3 = git(out, "rev-parse", "HEAD", capture=True)
    git(out, "repack", "-a", "-d", "-q")  # as after a clone: one pack, no loose objects

    m = {"params": params, "repo": out, "files": count, "bytes": total, "posts": n_posts, "padding": pad,
         "commits": {"initial": c0, "newpost": c1, "regen": c2, "theme": c3}, "theme_changes": theme,
         "newpost_changes": sorted(changed, key=lambda x: x[1])}
    with open(manifest_path, "w") as f:
        json.dump(m, f, indent=1)
    print(json.dumps(m))


if __name__ == "__main__":
    main()
