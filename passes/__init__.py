"""Transformations on the IR: eqsat-optimize and its parts."""
