"""IRIIS Phyto API service: identifications, cases, the review queue, surveillance."""
