"""Running the legacy and REST sides side by side: compare their answers and report the verdict."""
