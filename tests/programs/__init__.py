"""Test programs that the plugin's own tests copy into a scratch directory and run with pytest.

They are real files so that ruff and mypy read them; none is collected where it stands (no
``test_`` prefix). Settings come from environment variables the copying test sets.
"""
