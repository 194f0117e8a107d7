"""The specialists' web pages, served by the API under ``/lab/``: server-rendered HTML (Jinja2
templates in ``api/templates/lab``, one stylesheet in ``api/static``), in French and English,
over the same services as the JSON API. ``create_app`` includes :data:`router`: the queue's
pages (``api.web.routes``) and the bank review's (``api.web.bank_pages``)."""

from fastapi import APIRouter

from api.web import bank_pages, routes

router = APIRouter()
router.include_router(routes.router)
router.include_router(bank_pages.router)

__all__ = ["router"]
