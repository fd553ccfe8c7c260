"""One sub-package per economy. Economies build LPs through :mod:`segex.engine`; none imports a solver."""
