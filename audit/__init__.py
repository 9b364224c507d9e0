"""gup-audit: find get_user_pages call sites, their closures and COW/fork exposure in a kernel tree."""

__version__ = "0.1.0"
