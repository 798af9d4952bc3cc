"""facecomp's host kit: the host-independent half of every host plugin (Nuke, Resolve/Fusion, and the next one).

Stdlib-only Python 3.7+ (it runs inside the hosts' own interpreters). ``client`` finds and runs facecomp and talks
to ``facecomp worker``; ``sequences`` names frames and frame ranges; ``options`` reads the option tables the
worker publishes in its ``hello`` reply, so a host builds its controls from the engine instead of copying lists.
A host adds the folder holding ``host_kit`` to ``sys.path`` (see docs/hosts.md) and imports what it needs.
"""

KIT_VERSION = 1
