"""The FastAPI peer: the spec's endpoints on the stack the spec was written for.

FastAPI under uvicorn, fastapi-cache2 on Redis, motor on the MongoDB wire server, reading the
documents `infra-mind seed` writes. The load harness (benches/load) starts it with

    MONGODB_URI=... MONGODB_DB=... REDIS_URL=... \
        python -m uvicorn app:app --app-dir benches/peer --workers 2

Endpoints (the same paths and JSON shapes as the Rust server where both have them):
- GET /api/assessments?limit=N            cached 300 s (fastapi-cache2); with
  `include=user,recommendations,reports` (any subset) the list with relations, each item
  {"assessment", and the relations asked for}
- GET /api/assessments/{id}/full          the assessment with its user, recommendations, reports
- GET /api/dashboard                      counts and the 10 newest assessments with owners
- GET /health

`loading=n-plus-one` makes the relation endpoints load each row's relations with one query per
row, as the spec's BEFORE code does; the default `batched` is one `$in` query per relation.
`n` is any value: it only makes a distinct cache key (the harness's miss path).
"""

import asyncio
import os
from contextlib import asynccontextmanager
from typing import Optional

from bson import ObjectId
from fastapi import FastAPI, HTTPException
from fastapi_cache import FastAPICache
from fastapi_cache.backends.redis import RedisBackend
from fastapi_cache.decorator import cache
from motor.motor_asyncio import AsyncIOMotorClient
from redis import asyncio as aioredis

MONGODB_URI = os.environ.get("MONGODB_URI", "mongodb://127.0.0.1:27017/?directConnection=true")
MONGODB_DB = os.environ.get("MONGODB_DB", "infra_mind")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379")

db = None


@asynccontextmanager
async def lifespan(_app):
    global db
    client = AsyncIOMotorClient(MONGODB_URI)
    db = client[MONGODB_DB]
    redis = aioredis.from_url(REDIS_URL)
    FastAPICache.init(RedisBackend(redis), prefix="peer")
    yield
    client.close()
    await redis.aclose()


app = FastAPI(lifespan=lifespan)

NEWEST_FIRST = [("created_at", -1), ("_id", -1)]


def iso(value):
    return value.isoformat().replace("+00:00", "Z") + ("Z" if value.tzinfo is None else "")


def out_user(d):
    if d is None:
        return None
    return {"id": str(d["_id"]), "email": d["email"], "full_name": d["full_name"],
            "created_at": iso(d["created_at"])}


def out_assessment(d):
    return {"id": str(d["_id"]), "user_id": str(d["user_id"]), "title": d["title"],
            "description": d.get("description"), "cloud_provider": d.get("cloud_provider"),
            "status": d["status"], "created_at": iso(d["created_at"]),
            "updated_at": iso(d["updated_at"])}


def out_recommendation(d):
    return {"id": str(d["_id"]), "assessment_id": str(d["assessment_id"]), "title": d["title"],
            "category": d["category"], "priority": d["priority"],
            "description": d.get("description"), "confidence": d.get("confidence"),
            "source": d["source"], "created_at": iso(d["created_at"])}


def out_report(d):
    return {"id": str(d["_id"]), "assessment_id": str(d["assessment_id"]),
            "user_id": str(d["user_id"]), "type": d["type"], "format": d["format"],
            "size_bytes": d["size_bytes"], "created_at": iso(d["created_at"])}


REPORT_FIELDS = {"content": 0}


async def relations_n_plus_one(assessments, include):
    """The spec's BEFORE code: for each assessment, one query per relation."""
    items = []
    for a in assessments:
        item = {"assessment": out_assessment(a)}
        if "user" in include:
            item["user"] = out_user(await db.users.find_one({"_id": a["user_id"]}))
        if "recommendations" in include:
            item["recommendations"] = [out_recommendation(r) async for r in
                                       db.recommendations.find({"assessment_id": a["_id"]})]
        if "reports" in include:
            item["reports"] = [out_report(r) async for r in
                               db.reports.find({"assessment_id": a["_id"]}, REPORT_FIELDS)]
        items.append(item)
    return items


async def relations_batched(assessments, include):
    """The spec's AFTER code: one `$in` query per relation, whatever the number of rows."""
    ids = [a["_id"] for a in assessments]
    user_ids = list({a["user_id"] for a in assessments})

    async def users():
        if "user" not in include:
            return {}
        return {u["_id"]: u async for u in db.users.find({"_id": {"$in": user_ids}})}

    async def many(collection, projection=None):
        grouped = {}
        async for r in collection.find({"assessment_id": {"$in": ids}}, projection):
            grouped.setdefault(r["assessment_id"], []).append(r)
        return grouped

    async def nothing():
        return {}

    by_user, recs, reports = await asyncio.gather(
        users(),
        many(db.recommendations) if "recommendations" in include else nothing(),
        many(db.reports, REPORT_FIELDS) if "reports" in include else nothing(),
    )
    items = []
    for a in assessments:
        item = {"assessment": out_assessment(a)}
        if "user" in include:
            item["user"] = out_user(by_user.get(a["user_id"]))
        if "recommendations" in include:
            item["recommendations"] = [out_recommendation(r) for r in recs.get(a["_id"], [])]
        if "reports" in include:
            item["reports"] = [out_report(r) for r in reports.get(a["_id"], [])]
        items.append(item)
    return items


async def with_relations(assessments, include, loading):
    if loading == "n-plus-one":
        return await relations_n_plus_one(assessments, include)
    return await relations_batched(assessments, include)


def includes(include: Optional[str]):
    if not include:
        return set()
    wanted = {part.strip() for part in include.split(",") if part.strip()}
    unknown = wanted - {"user", "recommendations", "reports"}
    if unknown:
        raise HTTPException(422, f"unknown include {sorted(unknown)}")
    return wanted


@app.get("/health")
async def health():
    return {"status": "ok"}


@app.get("/api/assessments")
@cache(expire=300)
async def list_assessments(limit: int = 100, include: Optional[str] = None,
                           loading: str = "batched", n: Optional[str] = None):
    if not 1 <= limit <= 10000:
        raise HTTPException(422, "limit must be an integer from 1 to 10000")
    wanted = includes(include)
    assessments = [a async for a in db.assessments.find().sort(NEWEST_FIRST).limit(limit)]
    if not wanted:
        return [out_assessment(a) for a in assessments]
    return await with_relations(assessments, wanted, loading)


@app.get("/api/assessments/{assessment_id}/full")
async def full(assessment_id: str, loading: str = "batched", n: Optional[str] = None):
    if not ObjectId.is_valid(assessment_id):
        raise HTTPException(400, "invalid id")
    a = await db.assessments.find_one({"_id": ObjectId(assessment_id)})
    if a is None:
        raise HTTPException(404, "no such assessment")
    item, = await with_relations([a], {"user", "recommendations", "reports"}, loading)
    return item


@app.get("/api/dashboard")
async def dashboard(loading: str = "batched", n: Optional[str] = None):
    async def group(collection, field):
        return {g["_id"]: g["count"] async for g in
                collection.aggregate([{"$group": {"_id": f"${field}", "count": {"$sum": 1}}}])}

    users, by_status, by_priority, by_format, recent = await asyncio.gather(
        db.users.count_documents({}),
        group(db.assessments, "status"),
        group(db.recommendations, "priority"),
        group(db.reports, "format"),
        db.assessments.find().sort(NEWEST_FIRST).limit(10).to_list(10),
    )
    related = await with_relations(recent, {"user", "recommendations", "reports"}, loading)
    return {
        "counts": {"users": users, "assessments_by_status": by_status,
                   "recommendations_by_priority": by_priority, "reports_by_format": by_format},
        "recent_assessments": [{"assessment": r["assessment"], "user": r["user"],
                                "recommendations_count": len(r["recommendations"])}
                               for r in related],
    }
