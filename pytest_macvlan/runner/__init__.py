"""Layer 6, kernel lanes: running a pytest session on other kernels (user-mode Linux, a VM)."""
