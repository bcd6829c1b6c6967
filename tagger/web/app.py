"""``tagger serve``: the LF review app (FastAPI, server-rendered Jinja2 templates, plain HTML forms).

Every page reads the LF store and the run folders from disk on each request (no cache that can go stale),
so the app and ``tagger lf ...`` can work on one store side by side; every change goes through
:class:`labeling_functions.store.LFStore`, which holds the store's file lock and writes atomically.

Access: a signed session cookie (HttpOnly, SameSite=Strict) after a login against the users file; every
form carries the session's CSRF token; viewers read, reviewers change. Nothing is loaded from the network:
the one stylesheet is served from the package and the pages carry no script.
"""
from __future__ import annotations

import hmac
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

import yaml
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from labeling_functions.spec import LFSpec
from labeling_functions.store import LFStore, LifecycleError
from tagger.web import runs as R
from tagger.web.users import Users

log = logging.getLogger("tagger.web")
HERE = Path(__file__).parent
ACTIONS = {"approve": "active", "reject": "rejected", "retire": "retired", "reopen": "proposed"}
SORTS = ("dev_precision", "coverage", "conflicts", "hits", "id")
MAX_SPEC_CHARS = 20_000
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; frame-ancestors 'none'"


@dataclass
class Settings:
    store: Path
    runs: Path
    users: Path
    config: Path | None = None
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    https_only: bool = False
    session_hours: float = 8.0


def _fmt(v, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    if isinstance(v, float):
        return f"{v:.1%}" if pct else f"{v:.3f}"
    return str(v)


def _delta(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    return f"{v:+.3f}" if isinstance(v, float) else f"{v:+d}"


def create_app(settings: Settings) -> FastAPI:
    app = FastAPI(title="tagger review", docs_url=None, redoc_url=None, openapi_url=None)
    env = Environment(loader=PackageLoader("tagger.web", "templates"), autoescape=select_autoescape(default=True))
    env.filters.update(fmt=_fmt, delta=_delta, q=lambda s: quote(str(s), safe=""))
    users = Users(settings.users)
    bench = None
    if settings.config is not None:
        from tagger.config import load_config
        from tagger.web.bench import Bench

        bench = Bench(load_config(settings.config))
    app.state.settings, app.state.bench = settings, bench

    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="tagger_session",
                       same_site="strict", https_only=settings.https_only,
                       max_age=int(settings.session_hours * 3600))

    @app.middleware("http")
    async def headers(request: Request, call_next):
        resp = await call_next(request)
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    app.mount("/static", StaticFiles(packages=[("tagger.web", "static")]), name="static")

    # ---- helpers ----
    def csrf_token(request: Request) -> str:
        tok = request.session.get("csrf")
        if not tok:
            tok = request.session["csrf"] = secrets.token_urlsafe(32)
        return tok

    def user_of(request: Request) -> tuple[str | None, str | None]:
        name = request.session.get("user")
        role = users.role(name)  # read from the file: a removed user is logged out at once
        return (name, role) if role else (None, None)

    def render(request: Request, name: str, status_code: int = 200, **ctx) -> HTMLResponse:
        user, role = user_of(request)
        flash = request.session.pop("flash", [])
        html = env.get_template(name).render(request=request, user=user, role=role, csrf=csrf_token(request),
                                             flash=flash, has_config=bench is not None, **ctx)
        return HTMLResponse(html, status_code=status_code)

    def flash(request: Request, msg: str, kind: str = "ok") -> None:
        request.session["flash"] = [*request.session.get("flash", []), {"msg": msg, "kind": kind}]

    def need_user(request: Request) -> tuple[str, str]:
        user, role = user_of(request)
        if user is None:
            raise HTTPException(401, "log in first")
        return user, role

    async def need_write(request: Request) -> tuple[str, dict]:
        """A change: logged in (401), a reviewer (403), the form's CSRF token matches the session's (403)."""
        user, role = need_user(request)
        form = dict(await request.form())
        if role != "reviewer":
            raise HTTPException(403, "viewers cannot change anything")
        check_csrf(request, form)
        return user, form

    def check_csrf(request: Request, form: dict) -> None:
        sent, want = str(form.get("csrf", "")), request.session.get("csrf", "")
        if not want or not hmac.compare_digest(sent.encode(), want.encode()):
            raise HTTPException(403, "bad or missing CSRF token; reload the page and try again")

    def store() -> LFStore:
        return LFStore(settings.store)

    def get_lf(lf_id: str) -> LFSpec:
        try:
            return store().get(lf_id)
        except KeyError:
            raise HTTPException(404, "no such LF") from None

    def get_run(name: str) -> Path:
        p = R.run_dir(settings.runs, name)
        if p is None:
            raise HTTPException(404, "no such run")
        return p

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 401 and request.method == "GET":
            return RedirectResponse("/login?next=" + quote(request.url.path, safe="/"), status_code=303)
        return render(request, "error.html", status_code=exc.status_code, code=exc.status_code, detail=exc.detail)

    # ---- login ----
    @app.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/queue"):
        return render(request, "login.html", next=next if next.startswith("/") and not next.startswith("//") else "/queue")

    @app.post("/login")
    async def login(request: Request):
        form = dict(await request.form())
        check_csrf(request, form)
        name, password = str(form.get("username", "")), str(form.get("password", ""))
        nxt = str(form.get("next", "/queue"))
        if not nxt.startswith("/") or nxt.startswith("//"):
            nxt = "/queue"
        role = users.verify(name, password) if name and password else None
        if role is None:
            log.warning("failed login for %r", name[:64])
            return render(request, "login.html", status_code=401, next=nxt, error="unknown user or wrong password")
        request.session.clear()
        request.session.update(user=name, csrf=secrets.token_urlsafe(32), at=int(time.time()))
        return RedirectResponse(nxt, status_code=303)

    @app.post("/logout")
    async def logout(request: Request):
        form = dict(await request.form())
        check_csrf(request, form)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    @app.get("/")
    def root():
        return RedirectResponse("/queue", status_code=303)

    # ---- queue ----
    @app.get("/queue", response_class=HTMLResponse)
    def queue(request: Request, tag: str = "", author: str = "", round: str = "", status: str = "proposed",
              sort: str = "dev_precision", desc: int = 1, run: str = ""):
        need_user(request)
        from tagger.lf_tools import lf_table

        st = store()
        specs = st.all()
        df = lf_table(specs)
        df["hits"] = [s.provenance.get("gate", {}).get("pool_hits", math.nan) for s in specs]
        df["conflicts"] = math.nan
        source = "the gate (when the LF was proposed)"
        if run:
            import pandas as pd

            p = get_run(run)
            if (p / "lf_summary.csv").exists():
                stats = pd.read_csv(p / "lf_summary.csv")[["id", "coverage", "conflicts", "dev_precision", "hits"]]
                df = df.drop(columns=["coverage", "conflicts", "dev_precision", "hits"]).merge(stats, on="id", how="left")
                source = f"run {run} (LFs not in that run have no numbers)"
        elif bench is not None and len(df):
            live = bench.store_stats(specs)[["id", "coverage", "conflicts", "dev_precision", "hits"]]
            df = df.drop(columns=["coverage", "conflicts", "dev_precision", "hits"]).merge(live, on="id", how="left")
            source = "the config's data, measured now (conflicts among proposed and active LFs)"
        options = {c: sorted({str(x) for x in df[c].dropna()}) for c in ("tag", "author", "round", "status")}
        for col, val in (("tag", tag), ("author", author), ("round", round), ("status", status)):
            if val and val != "any":
                df = df[df[col].astype(str) == val]
        sort = sort if sort in SORTS else "dev_precision"
        df = df.sort_values(sort, ascending=not desc, kind="stable", na_position="last")
        params = {"tag": tag, "author": author, "round": round, "status": status, "run": run}
        links = {c: "/queue?" + urlencode({**params, "sort": c, "desc": int(not desc) if c == sort else 1})
                 for c in SORTS}
        return render(request, "queue.html", rows=df.to_dict("records"), options=options, f=params, sort=sort,
                      desc=desc, links=links, source=source, errors=st.errors, runs=R.list_runs(settings.runs))

    # ---- one LF ----
    @app.get("/lf/{lf_id}", response_class=HTMLResponse)
    def lf_page(request: Request, lf_id: str):
        need_user(request)
        spec = get_lf(lf_id)
        m = conflicts = motivating = None
        if bench is not None and spec.tag in bench.tags:
            from tagger.lf_tools import measure

            m = measure(bench.cfg, [spec], 5)[0]
            conflicts = bench.conflicts_of(store().all(), spec.id)
            ids = [str(t) for t in spec.provenance.get("motivating_tickets", [])][:20]
            motivating = bench.ticket_texts(ids) if ids else {}
        prov = {k: v for k, v in spec.provenance.items() if k not in ("history", "gate")}
        params_yaml = yaml.safe_dump(spec.params.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
        allowed = [a for a, to in ACTIONS.items() if to in _transitions(spec.status)]
        return render(request, "lf.html", spec=spec, params_yaml=params_yaml, prov=prov,
                      prov_yaml=yaml.safe_dump(prov, sort_keys=False, allow_unicode=True) if prov else "",
                      gate=spec.provenance.get("gate", {}), history=spec.provenance.get("history", []), m=m,
                      conflicts=conflicts, motivating=motivating, actions=allowed)

    def _transitions(status: str) -> set[str]:
        from labeling_functions.store import TRANSITIONS

        return TRANSITIONS.get(status, set())

    @app.post("/lf/{lf_id}/review")
    async def review(request: Request, lf_id: str):
        user, form = await need_write(request)
        action = str(form.get("action", ""))
        if action not in ACTIONS:
            raise HTTPException(400, "unknown action")
        try:
            new = store().set_status(lf_id, ACTIONS[action], f"web:{user}", str(form.get("reason", "")))
        except KeyError:
            raise HTTPException(404, "no such LF") from None
        except LifecycleError as e:
            flash(request, str(e), "error")
            return RedirectResponse(f"/lf/{quote(lf_id, safe='')}", status_code=303)
        flash(request, f"{new.id}: {new.provenance['history'][-1]['from']} -> {new.status}")
        return RedirectResponse(f"/lf/{quote(lf_id, safe='')}", status_code=303)

    # ---- edit and test ----
    def _editable(spec: LFSpec) -> str:
        d = spec.model_dump(mode="json", include={"id", "tag", "kind", "params", "rationale"})
        d["id"] = f"{spec.id}:edit"
        return yaml.safe_dump(d, sort_keys=False, allow_unicode=True, width=100)

    def _parse(text: str, user: str, source: str | None) -> tuple[LFSpec | None, list[str]]:
        if len(text) > MAX_SPEC_CHARS:
            return None, [f"the spec is longer than {MAX_SPEC_CHARS} characters"]
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as e:
            return None, [f"not valid YAML: {e}"]
        if not isinstance(raw, dict):
            return None, ["the spec must be one mapping with id, tag, kind, params and rationale"]
        extra = set(raw) - {"id", "tag", "kind", "params", "rationale"}
        if extra:
            return None, [f"only id, tag, kind, params and rationale can be edited (not {sorted(extra)})"]
        try:
            spec = LFSpec.model_validate({**raw, "author": f"web:{user}", "status": "proposed",
                                          "provenance": {"edited_from": source} if source else {}})
        except ValidationError as e:  # each error, named by its field
            return None, [f"{'.'.join(str(x) for x in er['loc'])}: {er['msg']}" for er in e.errors()]
        if bench is not None and spec.tag not in bench.tags:
            return None, [f"tag {spec.tag!r} is not in the tag list"]
        return spec, []

    @app.get("/edit", response_class=HTMLResponse)
    def edit_page(request: Request, source: str = ""):
        need_user(request)
        text = _editable(get_lf(source)) if source else yaml.safe_dump(
            {"id": "my:new-lf", "tag": "", "kind": "keyword", "params": {"any": ["phrase"]}, "rationale": ""},
            sort_keys=False)
        return render(request, "edit.html", text=text, source=source, errors=[], m=None)

    @app.post("/edit", response_class=HTMLResponse)
    async def edit_post(request: Request):
        user, role = need_user(request)
        form = dict(await request.form())
        check_csrf(request, form)
        action, text, source = str(form.get("action", "test")), str(form.get("spec", "")), str(form.get("source", ""))
        spec, errors = _parse(text, user, source or None)
        m = None
        if spec is not None and action == "test":
            if bench is None:
                errors = ["the app was started without --config: it cannot measure LFs (the spec is valid)"]
            else:
                from tagger.lf_tools import measure

                try:
                    m = measure(bench.cfg, [spec], 5)[0]
                except ValueError as e:
                    errors = [str(e)]
        elif spec is not None and action == "save":
            if role != "reviewer":
                raise HTTPException(403, "viewers cannot change anything")
            reason = str(form.get("reason", "")).strip()
            if not reason:
                errors = ["a reason is required to save"]
            else:
                entry = {"from": None, "to": "proposed", "by": f"web:{user}", "at": time.strftime("%Y-%m-%dT%H:%M:%S"),
                         "reason": reason}
                spec = spec.model_copy(update={"provenance": {**spec.provenance, "history": [entry]}})
                if store().add([spec]):
                    flash(request, f"{spec.id} saved as a proposed LF")
                    return RedirectResponse(f"/lf/{quote(spec.id, safe='')}", status_code=303)
                errors = [f"an LF with id {spec.id!r} already exists: choose another id"]
        return render(request, "edit.html", status_code=422 if errors else 200, text=text, source=source,
                      errors=errors, m=m)

    # ---- runs ----
    @app.get("/runs", response_class=HTMLResponse)
    def runs_page(request: Request):
        need_user(request)
        return render(request, "runs.html", runs=R.list_runs(settings.runs))

    @app.get("/runs/compare", response_class=HTMLResponse)
    def compare(request: Request, a: str, b: str):
        need_user(request)
        d = R.compare_runs(get_run(a), get_run(b))
        return render(request, "compare.html", a=a, b=b, d=d)

    @app.get("/runs/{name}/report.html")
    def report(request: Request, name: str):
        need_user(request)
        p = get_run(name) / "report.html"
        if not p.is_file():
            raise HTTPException(404, "this run has no report.html")
        return FileResponse(p, media_type="text/html", headers={"Content-Security-Policy": REPORT_CSP})

    @app.get("/runs/{name}/issues", response_class=HTMLResponse)
    def issues(request: Request, name: str, limit: int = 50):
        need_user(request)
        p = get_run(name)
        if not (p / "label_issues.csv").exists():
            return render(request, "issues.html", run=name, rows=[], done=0, missing=True, tags=[])
        df, done = R.label_issues(p, settings.runs)
        return render(request, "issues.html", run=name, rows=df.head(max(1, min(limit, 500))).to_dict("records"),
                      total=len(df), done=done, missing=False, tags=bench.tags if bench is not None else [])

    @app.post("/runs/{name}/issues")
    async def issue_decision(request: Request, name: str):
        user, form = await need_write(request)
        p = get_run(name)
        if not (p / "label_issues.csv").exists():
            raise HTTPException(404, "this run has no label issues")
        import pandas as pd

        df = pd.read_csv(p / "label_issues.csv", dtype={"ticket_id": str}).fillna("")
        tid = str(form.get("ticket_id", ""))
        row = df[df["ticket_id"] == tid]
        if row.empty:
            raise HTTPException(404, "no such flagged ticket in this run")
        r = row.iloc[0].to_dict()
        reason = str(form.get("reason", "")).strip()[:500]
        if form.get("action") == "skip":
            R.record_review(settings.runs, name, tid, None, f"web:{user}", reason, str(r.get("text", "")))
            flash(request, f"{tid}: skipped")
        else:
            tag = str(form.get("tag", ""))
            known = {str(r.get(c, "")) for c in ("operator_tag", "weak_label", "model_tag")} - {""}
            if bench is not None:
                known |= set(bench.tags)
            if tag not in known:
                raise HTTPException(400, "choose one of the ticket's tags")
            out = R.record_review(settings.runs, name, tid, tag, f"web:{user}", reason, str(r.get("text", "")))
            flash(request, f"{tid}: {tag} confirmed -> {out.name}")
        return RedirectResponse(f"/runs/{quote(name, safe='')}/issues", status_code=303)

    return app


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False,
                server_header=False)
