"""A realistic, deterministic day of one site's traffic, as access logs and tag events.

`generate(day, out, visitors, seed)` writes the landing layout of SPEC 1 and the ground truth it
used (`_truth/dt=D/`), so tests can check the pipeline against what really happened:

- visitors (a population fixed by the seed, so cookies and IPs persist across days) with several
  sessions a day, a diurnal curve, Zipf-like page popularity, entry channels with referrers and
  utm campaigns or ad click ids, assets (~30% of log lines), downloads, redirects, 4xx/5xx, POSTs;
- ~85% of visitors run the tag: a page_view per page plus page_pings and clicks; some page views
  are served from a CDN cache (tag only), some beacons are lost (log only);
- bots (~5-10% of lines): search and AI crawlers, SEO tools, uptime monitors, HTTP libraries, a
  headless browser that runs the tag, and a scraper with a browser user agent that reads robots.txt;
- NAT: some visitors share an IP with another visitor (with a different browser);
- with `hot_keys` (for benchmarks of skew, not the tests' truth): one in ten visitors behind one
  carrier-grade NAT address, many with the same browser build, and a scraper farm on one address
  with a browser's user agent sending a fifth of the day's log lines;
- dirty input: malformed and empty log lines, malformed/invalid events, duplicate events (beacon
  retries), events delivered in the next day's files, devices with skewed clocks, sessions that
  cross midnight.

Times are integer milliseconds since the epoch throughout, so the truth's timestamps are exactly
what the pipeline derives (log lines carry whole seconds).
"""

from __future__ import annotations

import bisect
import datetime as dt
import gzip
import itertools
import json
import math
import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from clicklake import storage

SITE = "www.example.com"
HOSTS = ("web-01", "web-02", "web-03")
# web-03 logs in local time (+01:00): the pipeline must convert from the offset in each line.
HOST_OFFSET_MIN = {"web-01": 0, "web-02": 0, "web-03": 60}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
SESSION_TIMEOUT_MS = 30 * 60_000
MIN_PAGE_GAP_MS = 5_000
MAX_PAGE_GAP_MS = 28 * 60_000
MIN_SESSION_GAP_MS = 35 * 60_000
PING_INTERVAL_MS = 10_000
MIN_VISIT_S = 5  # engaged time credited for a page view with pings (the pipeline's default)
COLLECTOR_FLUSH_MS = 10 * 60_000
DAY_MS = 86_400_000

HUMAN_USER_AGENTS = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 18),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36", 8),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 8),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", 6),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 5),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", 2),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 2),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", 7),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 14),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1", 5),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", 7),
    ("Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Mobile Safari/537.36", 5),
    ("Mozilla/5.0 (Linux; Android 14; SM-A546B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36", 3),
    ("Mozilla/5.0 (iPad; CPU OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", 4),
    ("Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 2),
)

# (name, user agent, requests a day, fetches robots.txt, first IP octets)
CRAWLERS = (
    ("googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 220, True, "66.249.66"),
    ("bingbot", "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", 90, True, "157.55.39"),
    ("gptbot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)", 70, True, "20.171.207"),
    ("claudebot", "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)", 40, True, "3.14.25"),
    ("ahrefsbot", "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)", 60, True, "54.36.148"),
    ("semrushbot", "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)", 40, True, "85.208.96"),
    ("python-requests", "python-requests/2.32.3", 30, False, "34.82.11"),
    ("curl", "curl/8.5.0", 12, False, "18.222.40"),
)
UPTIME_UA = "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)"
HEADLESS_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 Safari/537.36"
STEALTH_UA = HUMAN_USER_AGENTS[0][0]
# hot_keys: the gateway of a mobile carrier or a large office, and a scraper farm's exit address.
NAT_GATEWAY_IP = "198.51.100.70"
SCRAPER_FARM_IP = "203.0.113.66"

# (channel, weight): the generator picks the entry channel, then writes what produces it.
CHANNEL_WEIGHTS = (
    ("Direct", 26), ("Organic Search", 30), ("Organic Social", 8), ("Referral", 7), ("Email", 7),
    ("Paid Search", 9), ("Display", 4), ("Paid Social", 4), ("Affiliates", 3), ("Direct-internal", 2),
)
SEARCH_REFERRERS = ("https://www.google.com/", "https://www.google.co.uk/", "https://www.bing.com/", "https://duckduckgo.com/", "https://search.yahoo.com/")
SOCIAL_REFERRERS = ("https://www.facebook.com/", "https://l.facebook.com/", "https://t.co/x8Ks0", "https://www.linkedin.com/", "https://www.reddit.com/r/webdev/", "https://www.instagram.com/")
REFERRAL_REFERRERS = ("https://blog.partner-shop.org/best-picks", "https://forum.hobbyist.net/t/123", "https://www.newsportal.info/tech/2026/review", "https://docs.friendly-tools.io/links")
HOURLY_WEIGHTS = (2, 1.5, 1, 1, 1, 1.5, 3, 5, 7, 8, 9, 9, 9, 10, 10, 10, 10, 11, 11, 10, 9, 7, 5, 3)

MALFORMED_LOG_KINDS = ("unparseable_line", "bad_timestamp", "bad_status")
INVALID_EVENT_KINDS = ("malformed_json", "missing_field:event_id", "unknown_event_type", "bad_field:received_at")


@dataclass
class Visitor:
    index: int
    ip: str
    user_agent: str
    cookie: str | None  # None: no tag (script blocker or no JS)
    clock_skew_ms: int
    quirk: str | None  # "cdn" (some pages served from cache: tag only) or "lossy" (some beacons lost: log only)


@dataclass
class PageView:
    t: int                 # true request time, ms
    path: str
    query: str | None
    referrer: str | None
    logged: bool
    tagged: bool
    observed_ts: int = 0   # what the pipeline will see, ms
    tag_delay: int = 0
    engaged_s: float | None = None  # from the pings' derived times (Snowplow's formula); None: not tagged
    pings_delivered: dt.date | None = None  # the latest delivery date of its pings


@dataclass
class Session:
    visitor: Visitor
    channel: str
    views: list[PageView] = field(default_factory=list)


@dataclass
class LogRecord:
    t: int
    host: str
    ip: str
    method: str
    target: str
    protocol: str
    status: int
    size: int | None
    referrer: str | None
    user_agent: str | None


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def _iso(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _clf_time(ms: int, offset_min: int) -> str:
    local = dt.datetime.fromtimestamp(ms // 1000 + offset_min * 60, tz=dt.timezone.utc)
    sign = "+" if offset_min >= 0 else "-"
    off = abs(offset_min)
    return f"{local.day:02d}/{MONTHS[local.month - 1]}/{local.year}:{local.strftime('%H:%M:%S')} {sign}{off // 60:02d}{off % 60:02d}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _weighted(rng: random.Random, items):
    values, weights = zip(*items)
    return rng.choices(values, weights=weights, k=1)[0]


class Catalog:
    """The site's pages (Zipf-like popularity), assets and downloads; fixed by the seed."""

    def __init__(self, seed: int):
        rng = random.Random(f"catalog-{seed}")
        words = ("alpine", "breeze", "cedar", "delta", "ember", "fjord", "garnet", "harbor", "iris", "juniper", "kestrel",
                 "lumen", "maple", "nova", "onyx", "prairie", "quartz", "raven", "sierra", "tundra", "umber", "vale",
                 "willow", "xenon", "yarrow", "zephyr")
        products = sorted({f"/products/{rng.choice(words)}-{rng.choice(words)}-{rng.randint(1, 99)}" for _ in range(160)})
        posts = sorted({f"/blog/2026/{rng.choice(words)}-{rng.choice(words)}-guide" for _ in range(60)})
        categories = [f"/category/{w}" for w in words[:12]]
        docs = [f"/docs/{w}.html" for w in words[:15]]
        fixed = ["/", "/products", "/blog", "/about", "/contact", "/pricing", "/cart", "/checkout", "/search", "/faq"]
        pages = fixed + categories + products + posts + docs
        rng.shuffle(pages)
        pages.remove("/")
        self.pages = ["/", *pages]
        weights = [1.0 / (rank + 1) ** 1.05 for rank in range(len(self.pages))]
        self.cumulative = list(itertools.accumulate(weights))
        self.landing_pages = products + posts + docs
        self.posts = posts
        self.products = products
        self.images = [f"/static/img/{p.rsplit('/', 1)[-1]}.{rng.choice(('jpg', 'webp', 'png'))}" for p in products[:80]]
        self.downloads = ("/downloads/catalog-2026.pdf", "/downloads/price-list.xlsx", "/downloads/brochure.zip", "/downloads/whitepaper.pdf")
        self.titles = {p: (p.strip("/").replace("/", " - ").replace("-", " ").title() or "Home") + " | Example Shop" for p in self.pages}

    def popular_page(self, rng: random.Random) -> str:
        return self.pages[bisect.bisect_left(self.cumulative, rng.random() * self.cumulative[-1])]

    def next_page(self, rng: random.Random, current: str) -> str:
        # Some shoppers buy: product -> cart -> checkout (the purchase funnel of reference/funnels.yml).
        if current.startswith("/products/") and rng.random() < 0.12:
            return "/cart"
        if current == "/cart" and rng.random() < 0.45:
            return "/checkout"
        for _ in range(10):
            page = self.popular_page(rng)
            if page != current:
                return page
        return "/" if current != "/" else "/products"


class Population:
    """Everyone who may visit; which of them visit on a given day depends on the day."""

    def __init__(self, seed: int, visitors_per_day: int, hot_keys: bool = False):
        self.seed = seed
        self.visitors_per_day = visitors_per_day
        size = visitors_per_day * 3
        rng = random.Random(f"population-{seed}")
        self.visitors: list[Visitor] = []
        seen: set[tuple[str, str]] = set()
        for i in range(size):
            ua = _weighted(rng, HUMAN_USER_AGENTS)
            if self.visitors and rng.random() < 0.04:
                ip = self.visitors[-1].ip  # behind the same NAT as the previous visitor
            else:
                ip = f"{rng.choice((23, 31, 46, 62, 77, 81, 89, 93, 104, 109, 141, 176, 185, 203))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            while (ip, ua) in seen:  # two people with one IP and one browser could not be told apart
                ua = _weighted(rng, HUMAN_USER_AGENTS)
                if (ip, ua) in seen:
                    ip = f"100.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
            seen.add((ip, ua))
            if hot_keys and i % 10 == 3:
                # Behind the gateway, people with one browser build are one client to the logs: the
                # truth cannot hold for them, so hot_keys days are for benchmarks only.
                ip = NAT_GATEWAY_IP
            cookie = _uuid(rng) if rng.random() < 0.85 else None
            skew = rng.choice((-1, 1)) * rng.randint(60_000, 3 * 3_600_000) if rng.random() < 0.1 else 0
            quirk = rng.choice(("cdn", "lossy")) if cookie and rng.random() < 0.1 else None
            self.visitors.append(Visitor(i, ip, ua, cookie, skew, quirk))

    def active_on(self, day: dt.date) -> list[Visitor]:
        rng = random.Random(f"active-{self.seed}-{day.isoformat()}")
        # Frequent visitors (low index) return more often than occasional ones.
        weights = [1.0 / math.sqrt(v.index + 10) for v in self.visitors]
        chosen: dict[int, Visitor] = {}
        while len(chosen) < min(self.visitors_per_day, len(self.visitors)):
            for v in rng.choices(self.visitors, weights=weights, k=self.visitors_per_day):
                chosen.setdefault(v.index, v)
                if len(chosen) >= self.visitors_per_day:
                    break
        return sorted(chosen.values(), key=lambda v: v.index)


class DayGenerator:
    def __init__(self, day: dt.date, visitors: int, seed: int, hot_keys: bool = False):
        self.day = day
        self.seed = seed
        self.hot_keys = hot_keys
        self.rng = random.Random(f"day-{seed}-{day.isoformat()}")
        self.catalog = Catalog(seed)
        self.population = Population(seed, visitors, hot_keys)
        self.day_start = _ms(day)
        self.day_end = self.day_start + DAY_MS
        self.log_records: list[LogRecord] = []
        self.events: list[tuple[int, dict]] = []   # (collector receive time, event)
        self.sessions: list[Session] = []
        self.stats: Counter = Counter()
        self.duplicates_delivered: Counter = Counter()  # retries by the delivery date of their file

    # ---- humans ----------------------------------------------------------------------------

    def _session_starts(self, count: int, late_ok: bool) -> list[int]:
        starts = []
        for _ in range(count):
            hour = self.rng.choices(range(24), weights=HOURLY_WEIGHTS, k=1)[0]
            starts.append(self.day_start + hour * 3_600_000 + self.rng.randint(0, 3_599_999))
        if late_ok and self.rng.random() < 0.05:
            starts[-1] = self.day_end - self.rng.randint(60_000, 25 * 60_000)  # into the night, across midnight
        return sorted(starts)

    def _entry(self, channel: str) -> tuple[str, str | None, str | None]:
        """(path, query, referrer) of a session's first page view for the channel."""
        rng, cat = self.rng, self.catalog
        if channel == "Direct":
            return ("/" if rng.random() < 0.6 else cat.popular_page(rng)), None, None
        if channel == "Direct-internal":  # an old tab of the site itself: same-site referrer counts as direct
            return cat.popular_page(rng), None, f"https://{SITE}{cat.popular_page(rng)}"
        if channel == "Organic Search":
            return rng.choice(cat.landing_pages), None, rng.choice(SEARCH_REFERRERS)
        if channel == "Organic Social":
            return rng.choice(cat.posts), None, rng.choice(SOCIAL_REFERRERS)
        if channel == "Referral":
            return rng.choice(cat.landing_pages), None, rng.choice(REFERRAL_REFERRERS)
        if channel == "Email":
            return rng.choice(cat.products), "utm_source=newsletter&utm_medium=email&utm_campaign=black-friday-2026&utm_content=hero", None
        if channel == "Paid Search":
            if rng.random() < 0.5:
                return rng.choice(cat.products), f"gclid=Cj0KCQiA{rng.getrandbits(48):x}", "https://www.google.com/"
            return rng.choice(cat.products), "utm_source=google&utm_medium=cpc&utm_campaign=brand-terms&utm_term=example+shop", "https://www.google.com/"
        if channel == "Display":
            return rng.choice(cat.products), "utm_source=gdn&utm_medium=display&utm_campaign=retarget-q4", None
        if channel == "Paid Social":
            return rng.choice(cat.products), "utm_source=facebook&utm_medium=paid_social&utm_campaign=winter-sale", "https://l.facebook.com/"
        if channel == "Affiliates":
            return rng.choice(cat.products), "utm_source=partner-network&utm_medium=affiliate&utm_campaign=q4-affiliates", None
        raise ValueError(channel)

    def _session(self, visitor: Visitor, start: int, must_end_by: int) -> Session | None:
        rng = self.rng
        channel = _weighted(rng, CHANNEL_WEIGHTS)
        path, query, referrer = self._entry(channel)
        session = Session(visitor, "Direct" if channel == "Direct-internal" else channel)
        count = 1 if rng.random() < 0.35 else min(2 + int(rng.expovariate(1 / 3.0)), 25)
        t = start
        for i in range(count):
            if t > must_end_by:
                break
            if i > 0:
                referrer = f"https://{SITE}{path}" + (f"?{query}" if query else "")
                path = self.catalog.next_page(rng, path)
                query = None
                if path == "/search":
                    query = f"q={rng.choice(('boots', 'gift+ideas', 'winter+jacket', 'sale'))}"
                elif rng.random() < 0.004:
                    query = f"email={rng.choice(('ann', 'bo', 'cy'))}.{rng.randint(1, 999)}%40mail.example.org&ref=footer"
            cached = visitor.quirk == "cdn" and i > 0 and rng.random() < 0.3
            lost = visitor.quirk == "lossy" and i > 0 and rng.random() < 0.3
            tagged = visitor.cookie is not None and not lost
            session.views.append(PageView(t, path, query, referrer, logged=not cached, tagged=tagged))
            gap = int(rng.lognormvariate(math.log(45_000), 1.0))
            if rng.random() < 0.03:
                gap = rng.randint(20 * 60_000, MAX_PAGE_GAP_MS)  # a long read, still one session
            t += min(max(gap, MIN_PAGE_GAP_MS), MAX_PAGE_GAP_MS)
        return session if session.views else None

    def humans(self) -> None:
        tomorrow = {v.index for v in self.population.active_on(self.day + dt.timedelta(days=1))}
        for visitor in self.population.active_on(self.day):
            # Whoever visits tomorrow too stops an hour before midnight, so tomorrow's generated
            # sessions never touch today's: the truth of each day stays exact across days.
            returns_tomorrow = visitor.index in tomorrow
            must_end_by = self.day_end - 3_600_000 if returns_tomorrow else self.day_end + DAY_MS
            n = 1 + min(int(self.rng.expovariate(1 / 0.5)), 3)
            previous_end = None
            for start in self._session_starts(n, late_ok=not returns_tomorrow):
                if previous_end is not None:
                    start = max(start, previous_end + MIN_SESSION_GAP_MS + self.rng.randint(0, 90 * 60_000))
                if start >= self.day_end or start > must_end_by:
                    break
                session = self._session(visitor, start, must_end_by)
                if session is None:
                    continue
                self.sessions.append(session)
                previous_end = session.views[-1].t
                self._emit_session(session)

    def _emit_session(self, session: Session) -> None:
        rng, v = self.rng, session.visitor
        for i, pv in enumerate(session.views):
            target = pv.path + (f"?{pv.query}" if pv.query else "")
            host = rng.choice(HOSTS)
            if pv.logged:
                self._log(pv.t, host, v.ip, "GET", target, 200, rng.randint(8_000, 90_000), pv.referrer, v.user_agent)
                self._assets(pv.t, host, v, first=(i == 0), page_url=f"https://{SITE}{target}")
            if rng.random() < 0.04:
                self._log(pv.t + rng.randint(3_000, 20_000), host, v.ip, "GET", rng.choice(self.catalog.downloads), 200, rng.randint(200_000, 9_000_000), f"https://{SITE}{pv.path}", v.user_agent)
            if rng.random() < 0.015:
                self._log(pv.t + rng.randint(1_000, 4_000), host, v.ip, "GET", f"/products/discontinued-{rng.randint(1, 50)}", 404, 512, f"https://{SITE}{pv.path}", v.user_agent)
            if rng.random() < 0.004:
                self._log(pv.t + rng.randint(1_000, 4_000), host, v.ip, "GET", "/checkout/confirm", 502, 166, f"https://{SITE}{pv.path}", v.user_agent)
            if pv.path.startswith("/products/") and rng.random() < 0.08:
                self._log(pv.t + rng.randint(2_000, 4_000), host, v.ip, "POST", "/cart/add", 302, 0, f"https://{SITE}{pv.path}", v.user_agent)
            if pv.tagged:
                next_t = session.views[i + 1].t if i + 1 < len(session.views) else None
                self._tag_page_view(pv, v, next_t)
            pv.observed_ts = (pv.t // 1000) * 1000 if pv.logged else pv.observed_ts

    def _assets(self, t: int, host: str, v: Visitor, first: bool, page_url: str) -> None:
        """Static files the origin serves (a CDN and the browser cache answer the rest)."""
        rng = self.rng
        assets = []
        if first:
            if rng.random() < 0.35:
                assets += [("/static/css/site.4f2a9c.css", 200), ("/static/js/app.91be07.js", 200)]
            if rng.random() < 0.3:
                assets.append(("/favicon.ico", 200))
            if rng.random() < 0.2:
                assets.append(("/static/fonts/inter-var.woff2", 200))
        elif rng.random() < 0.05:
            assets.append(("/static/css/site.4f2a9c.css", 304))
        if rng.random() < 0.25:
            assets.append((rng.choice(self.catalog.images), 200))
        for path, status in assets:
            size = 0 if status == 304 else rng.randint(1_000, 250_000)
            self._log(t + rng.randint(50, 1_500), host, v.ip, "GET", path, status, size, page_url, v.user_agent)

    def _tag_page_view(self, pv: PageView, v: Visitor, next_t: int | None) -> None:
        rng = self.rng
        delay = rng.randint(300, 2_000)
        page_view_id = _uuid(rng)
        url = f"https://{SITE}{pv.path}" + (f"?{pv.query}" if pv.query else "")
        base = {
            "anonymous_id": v.cookie, "page_view_id": page_view_id, "page_url": url,
            "page_title": self.catalog.titles.get(pv.path, "Example Shop"), "referrer": pv.referrer,
            "user_agent": v.user_agent, "ip": v.ip, "screen": "1920x1080" if "Mobile" not in v.user_agent else "390x844",
            "viewport": "1536x864" if "Mobile" not in v.user_agent else "390x664", "tracker": "clicklake-js", "tracker_version": "1.2.0",
            "_skew": v.clock_skew_ms,
        }
        derived, _ = self._event(pv.t + delay, "page_view", base, {})
        if not pv.logged:
            pv.observed_ts = derived
        # Heartbeats every 10 s while the page stays open (at most 6), and some clicks.
        stay = (next_t - pv.t) if next_t else rng.randint(5_000, 90_000)
        intervals = set()
        for k in range(1, min(stay // PING_INTERVAL_MS, 6) + 1):
            ping, received = self._event(pv.t + delay + k * PING_INTERVAL_MS, "page_ping", base, {"scroll_y_max": str(rng.randint(0, 4000))})
            intervals.add(ping // PING_INTERVAL_MS)
            delivered = self.delivery_date(received, COLLECTOR_FLUSH_MS)
            pv.pings_delivered = max(pv.pings_delivered or delivered, delivered)
        pv.engaged_s = float(PING_INTERVAL_MS // 1000 * (len(intervals) - 1) + MIN_VISIT_S) if intervals else 0.0
        if rng.random() < 0.1:
            self._event(pv.t + delay + rng.randint(1_000, 5_000), "link_click", base, {"target_url": "https://partner.example.net/"})

    def _event(self, created_true: int, event_type: str, base: dict, properties: dict) -> tuple[int, int]:
        """Append one event (and maybe its retry); return the derived time the pipeline will compute
        and when the collector received it (first copy)."""
        rng = self.rng
        visitor_skew = base["_skew"]
        send_wait = rng.randint(0, 200)
        if rng.random() < 0.003:
            send_wait = rng.randint(6, 30) * 3_600_000  # queued offline, sent the next day
        latency = rng.randint(40, 600)
        created_dev = created_true + visitor_skew
        sent_dev = created_true + send_wait + visitor_skew
        received = created_true + send_wait + latency
        event = {
            "event_id": _uuid(rng), "event_type": event_type,
            "created_at": _iso(created_dev), "sent_at": _iso(sent_dev), "received_at": _iso(received),
            **{k: v for k, v in base.items() if not k.startswith("_")},
            "user_id": None, "properties": properties,
        }
        self.events.append((received, event))
        self.stats["events_valid"] += 1
        if rng.random() < 0.02:  # beacon retry: the same event again, received later
            retry = dict(event, received_at=_iso(received + rng.randint(500, 30_000)))
            filed = received + rng.randint(500, 30_000)  # when the collector wrote it: its delivery file
            self.events.append((filed, retry))
            self.stats["events_duplicate"] += 1
            self.duplicates_delivered[self.delivery_date(filed, COLLECTOR_FLUSH_MS).isoformat()] += 1
        return received - (sent_dev - created_dev), received

    # ---- bots ------------------------------------------------------------------------------

    def bots(self) -> None:
        rng, cat = self.rng, self.catalog
        for name, ua, per_day, robots, net in CRAWLERS:
            ip = f"{net}.{rng.randint(1, 254)}"
            times = sorted(rng.randint(self.day_start, self.day_end - 1) for _ in range(per_day))
            if robots:
                self._log(times[0] - 1_000, rng.choice(HOSTS), ip, "GET", "/robots.txt", 200, 312, None, ua)
            for t in times:
                if name in ("python-requests", "curl"):
                    self._log(t, rng.choice(HOSTS), ip, "GET", f"/api/v1/products?page={rng.randint(1, 9)}", 200, rng.randint(2_000, 20_000), None, ua)
                else:
                    page = cat.popular_page(rng) if rng.random() < 0.5 else rng.choice(cat.pages)
                    self._log(t, rng.choice(HOSTS), ip, rng.choice(("GET",) * 9 + ("HEAD",)), page, rng.choice((200,) * 12 + (301, 404)), rng.randint(5_000, 80_000), None, ua)
        # Uptime monitor: the home page every 5 minutes.
        for k in range(288):
            self._log(self.day_start + k * 300_000 + 7_000, "web-01", "216.144.250.150", "HEAD", "/", 200, 0, None, UPTIME_UA)
        # A headless browser that renders pages, so it also sends tag events.
        ip = f"35.204.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        bot_visitor = Visitor(-1, ip, HEADLESS_UA, _uuid(rng), 0, None)
        t = self.day_start + rng.randint(2, 20) * 3_600_000
        for _ in range(40):
            path = rng.choice(cat.products)
            self._log(t, "web-02", ip, "GET", path, 200, 40_000, None, HEADLESS_UA)
            self._assets(t, "web-02", bot_visitor, first=True, page_url=f"https://{SITE}{path}")
            self._tag_page_view(PageView(t, path, None, None, True, True), bot_visitor, t + 15_000)
            t += rng.randint(8_000, 20_000)
        # A scraper with a browser user agent: reads robots.txt, then pages faster than a person.
        ip = f"45.134.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        t = self.day_start + rng.randint(1, 22) * 3_600_000
        self._log(t, "web-01", ip, "GET", "/robots.txt", 200, 312, None, STEALTH_UA)
        for _ in range(120):
            t += rng.randint(300, 1_500)
            self._log(t, rng.choice(HOSTS), ip, "GET", rng.choice(cat.products), 200, 40_000, None, STEALTH_UA)

    def scraper_farm(self) -> None:
        """hot_keys: one address with a browser's user agent sends a fifth of the day's log lines of
        product pages, from 08:00 at 0.2-0.9 s apart with a pause of minutes now and then; lines the
        rest of the day has no room for land at random times of it."""
        rng, cat = random.Random(f"scraper-farm-{self.seed}-{self.day.isoformat()}"), self.catalog
        lines = len(self.log_records) // 4
        t = self.day_start + 8 * 3_600_000
        for _ in range(lines):
            t += rng.randint(200, 900) if rng.random() < 0.98 else rng.randint(60_000, 300_000)
            if t >= self.day_end:
                t = self.day_start + rng.randint(0, DAY_MS - 1)
            self._log(t, rng.choice(HOSTS), SCRAPER_FARM_IP, "GET", rng.choice(cat.products), 200, 40_000, None, STEALTH_UA)

    # ---- output ------------------------------------------------------------------------------

    def _log(self, t, host, ip, method, target, status, size, referrer, ua) -> None:
        self.log_records.append(LogRecord(t, host, ip, method, target, "HTTP/1.1" if self.rng.random() < 0.7 else "HTTP/2.0", status, size, referrer, ua))

    def _log_line(self, r: LogRecord) -> str:
        return (
            f'{r.ip} - - [{_clf_time(r.t, HOST_OFFSET_MIN[r.host])}] "{r.method} {r.target} {r.protocol}" {r.status} '
            f'{r.size if r.size else "-"} "{r.referrer or "-"}" "{r.user_agent or "-"}"'
        )

    def _malformed_line(self, kind: str, r: LogRecord) -> str:
        good = self._log_line(r)
        if kind == "unparseable_line":  # cut inside the request: the writer died mid-line
            return good[: good.index('"') + 8]
        if kind == "bad_timestamp":
            return good.replace(_clf_time(r.t, HOST_OFFSET_MIN[r.host])[:2], "32", 1)
        if kind == "bad_status":
            return good.replace(f'" {r.status} ', '" 999 ', 1)
        raise ValueError(kind)

    def _invalid_event(self, kind: str, received: int) -> str:
        good = {"event_id": _uuid(self.rng), "event_type": "page_view", "created_at": _iso(received - 500), "sent_at": _iso(received - 400),
                "received_at": _iso(received), "anonymous_id": _uuid(self.rng), "page_url": f"https://{SITE}/", "user_agent": HUMAN_USER_AGENTS[0][0],
                "ip": "81.2.69.160"}
        if kind == "malformed_json":
            return json.dumps(good)[:60]
        if kind == "missing_field:event_id":
            del good["event_id"]
        elif kind == "unknown_event_type":
            good["event_type"] = "scroll_depth"
        elif kind == "bad_field:received_at":
            good["received_at"] = "yesterday afternoon"
        return json.dumps(good)

    def delivery_date(self, ms: int, flush_ms: int = 0) -> dt.date:
        return dt.datetime.fromtimestamp((ms + flush_ms) / 1000, tz=dt.timezone.utc).date()

    def files(self) -> tuple[dict[str, bytes], dict]:
        """{relative path: gzip bytes} and the truth's counts."""
        rng = self.rng
        by_file: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for r in self.log_records:
            # logrotate at midnight UTC: a line belongs to the file of its request time
            path = f"weblogs/dt={self.delivery_date(r.t)}/{r.host}/access.{self.day}.log.gz"
            by_file[path].append((r.t, self._log_line(r)))
        malformed: Counter = Counter()
        # by the delivery date of the file they are in, as the pipeline quarantines and counts them
        malformed_delivered: dict[str, Counter] = defaultdict(Counter)
        for path in sorted(p for p in by_file if p.startswith("weblogs/")):
            delivered = path.split("/")[1].removeprefix("dt=")
            lines = by_file[path]
            for kind in MALFORMED_LOG_KINDS:
                victim = LogRecord(rng.choice(lines)[0], path.split("/")[2], "198.51.100.7", "GET", "/", "HTTP/1.1", 200, 1234, None, "Mozilla/5.0 (Windows NT 10.0)")
                lines.append((victim.t, self._malformed_line(kind, victim)))
                malformed[kind] += 1
                malformed_delivered[delivered][kind] += 1
            lines.append((lines[-1][0], ""))
            malformed["empty_line"] += 1
            malformed_delivered[delivered]["empty_line"] += 1
        for received, event in self.events:
            # the collector flushes every 10 minutes: events of the last minutes arrive in tomorrow's files
            part = "a" if rng.random() < 0.5 else "b"
            path = f"events/dt={self.delivery_date(received, COLLECTOR_FLUSH_MS)}/collector-{part}.{self.day}.ndjson.gz"
            by_file[path].append((received, json.dumps(event, separators=(",", ":"))))
        for kind in INVALID_EVENT_KINDS:
            path = f"events/dt={self.day}/collector-a.{self.day}.ndjson.gz"
            received = self.day_start + rng.randint(0, DAY_MS - 3_600_000)
            by_file[path].append((received, self._invalid_event(kind, received)))
            malformed[kind] += 1
            malformed_delivered[self.day.isoformat()][kind] += 1
        out = {}
        line_counts = {}
        for path, rows in sorted(by_file.items()):
            rows.sort(key=lambda x: x[0])
            text = "\n".join(line for _, line in rows) + "\n"
            out[path] = gzip.compress(text.encode("utf-8"), compresslevel=6, mtime=0)
            line_counts[path] = len(rows)
        return out, {"lines_per_file": line_counts, "malformed": dict(malformed),
                     "malformed_by_delivery_date": {d: dict(c) for d, c in sorted(malformed_delivered.items())}}

    def run(self) -> tuple[dict[str, bytes], list[dict], dict]:
        self.humans()
        self.bots()
        if self.hot_keys:
            self.scraper_farm()
        files, counts = self.files()
        truth_sessions = [self._truth(s) for s in self.sessions]
        human_views = sum(len(s.views) for s in self.sessions)
        summary = {
            "date": self.day.isoformat(), "seed": self.seed, "site": SITE,
            "visitors": len({s.visitor.index for s in self.sessions}),
            "sessions": len(self.sessions), "pageviews": human_views,
            "log_lines": sum(n for p, n in counts["lines_per_file"].items() if p.startswith("weblogs/")),
            "event_lines": sum(n for p, n in counts["lines_per_file"].items() if p.startswith("events/")),
            "events_duplicate": self.stats["events_duplicate"],
            "events_duplicate_by_delivery_date": dict(sorted(self.duplicates_delivered.items())),
            "malformed": counts["malformed"],
            "malformed_by_delivery_date": counts["malformed_by_delivery_date"],
            "lines_per_file": counts["lines_per_file"],
        }
        return files, truth_sessions, summary

    def _truth(self, s: Session) -> dict:
        views = sorted(s.views, key=lambda pv: (pv.observed_ts, pv.t))
        start, end = views[0].observed_ts, views[-1].observed_ts
        delivered = [pv.pings_delivered for pv in views if pv.pings_delivered]
        return {
            "visitor": s.visitor.index, "cookie": s.visitor.cookie, "ip": s.visitor.ip, "user_agent": s.visitor.user_agent,
            "session_start": _iso(start), "session_end": _iso(end), "duration_s": (end - start) / 1000,
            "pageviews": len(views), "entry_page": views[0].path, "exit_page": views[-1].path, "channel": s.channel,
            "pages": [pv.path for pv in views],
            # Engaged seconds of each page (None: no tag saw it), final once the pings of
            # pings_delivered_by (the latest delivery date of the session's pings) have run.
            "engaged_s": [pv.engaged_s for pv in views],
            "pings_delivered_by": max(delivered).isoformat() if delivered else None,
            "session_date": dt.datetime.fromtimestamp(start / 1000, tz=dt.timezone.utc).date().isoformat(),
            "crosses_midnight": _iso(end)[:10] != _iso(start)[:10],
        }


def generate(day: dt.date, out: str, visitors: int = 2000, seed: int = 42, s3=None, hot_keys: bool = False) -> dict:
    """Write one day of landing files and its truth under `out` (a local path or s3:// URI)."""
    files, truth_sessions, summary = DayGenerator(day, visitors, seed, hot_keys).run()
    sink = storage.open_location(out, s3)
    for path, data in files.items():
        sink.put(path, data)
    truth_dir = f"_truth/dt={day.isoformat()}"
    sink.put(f"{truth_dir}/sessions.ndjson", "\n".join(json.dumps(t, sort_keys=True) for t in truth_sessions).encode() + b"\n")
    sink.put(f"{truth_dir}/summary.json", json.dumps(summary, indent=2, sort_keys=True).encode())
    return summary
