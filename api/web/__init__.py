"""The specialists' web pages, served by the API under ``/lab/``: server-rendered HTML (Jinja2
templates in ``api/templates/lab``, one stylesheet in ``api/static``), in French and English,
over the same services as the JSON API. ``create_app`` includes :data:`router`."""

from api.web.routes import router

__all__ = ["router"]
