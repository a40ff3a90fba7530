"""Pure computations: arrays in, arrays out. No file formats, no caching.

Heavy libraries (umap, openTSNE, hdbscan, pynndescent, keras) are imported
inside the functions that use them, so importing the package stays cheap.
"""
