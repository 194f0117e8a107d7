"""The service's business logic, shared by the JSON API (``api/routes``) and the specialists'
pages (``api/web``): route functions only translate HTTP to these calls and back.

Functions take an open SQLAlchemy session, commit what they change, and raise
``api.errors.ServiceError`` subclasses for anything the caller should show to a user.
"""
