"""MovieLens-100k file formats: read and validate them into pandas frames.

Pure Python and pandas, no Django: the loader service, the benchmarks and the tests all
read data through these modules. Three layouts are understood:

* the GroupLens folder (``u.data``, ``u.item``, ``u.user``, optionally ``u.genre``) and
* the published ``ml-100k.zip`` (the same files inside an ``ml-100k/`` folder):
  :mod:`.grouplens`;
* the RecBole atomic files carried by the ``recbole==1.2.1`` wheel on PyPI: :mod:`.recbole`.

What they share is in :mod:`.base` (the error, the data set, file access) and
:mod:`.parsing` (tables, typed columns, viewers and ratings). Every problem is raised as
:class:`~.base.DataFormatError`, which names the file, the line and what is wrong, so that
an operator can fix the input without reading a traceback.
"""
