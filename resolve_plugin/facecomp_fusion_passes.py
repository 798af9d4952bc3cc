"""The FaceSwap tools of a Fusion comp that read facecomp's pass files: Loaders placed and refreshed, the face over
the plate, one matte Loader per face, a Cryptomatte Loader (and Psyop's fuse when installed) and an STMap Loader
with Fusion's Texture tool. Part of facecomp_fusion.py (found beside it, or in $FACECOMP_HOME/resolve_plugin).

Stdlib-only (Python 3.6+). Sources: ayon-fusion's load_sequence.py (Loader timing), public scripts
(Clip1.OpenEXRFormat.<Slot>Name channel inputs, pass-through refresh), Psyop/Cryptomatte fusion/ (the fuse).
"""

from host_kit import exr

AUTO_PLACE = -32768
# Psyop's fuse registers as FuRegisterClass("Cryptomatte", CT_Tool): tool id "Fuse.Cryptomatte"
# (Psyop/Cryptomatte fusion/Config/cryptomatte_shortcuts.fu checks fuse:GetID() == 'Fuse.Cryptomatte')
CRYPTO_FUSE = "Fuse.Cryptomatte"
CRYPTO_LAYER = "CryptoFace"
CRYPTO_INSTALL = ("install Psyop's Cryptomatte fuse (github.com/Psyop/Cryptomatte, docs/fusion.md: a Path Map "
                  "'Cryptomatte:' to its fusion/ folder added to UserPaths:, or Reactor) and run FaceSwap again")
# Fusion's Texture tool (Tools > Deep Pixel > Texture) looks the Texture input up at the U/V aux channels of its
# Input: Fusion's way to apply an STMap (Blackmagic forum t=61291, UV-pass re-texturing)
TEXTURE_TOOL = "Texture"
FACE_CHANNELS = ("face.R", "face.G", "face.B", "facemask.A")


def tools(comp, tool_id=None, selected=False):
    found = comp.GetToolList(selected, tool_id) if tool_id else comp.GetToolList(selected)
    return list((found or {}).values())


def name(tool):
    return tool.GetAttrs()["TOOLS_Name"]


def place_loader(loader, clip, global_in, length):
    """Point a Loader at ``clip`` shown from comp time ``global_in`` for ``length`` frames, in the order Fusion needs.

    Fusion resets GlobalIn/GlobalOut, ClipTimeStart/End and HoldFirst/LastFrame when a Loader's clip changes length,
    and refuses a GlobalIn past GlobalOut (or the reverse); ayon-fusion's load_sequence.py (loader_shift, update)
    sets GlobalOut first when moving later and GlobalIn first when moving earlier, then re-applies the trims.
    """
    loader.SetInput("Clip", clip)
    old_in = int(loader.GetInput("GlobalIn"))
    new_out = global_in + length - 1
    order = (("GlobalOut", new_out), ("GlobalIn", global_in)) if global_in > old_in else \
        (("GlobalIn", global_in), ("GlobalOut", new_out))
    for key, value in order:
        loader.SetInput(key, value)
    for key, value in (("ClipTimeStart", 0), ("ClipTimeEnd", length - 1), ("HoldFirstFrame", 0),
                       ("HoldLastFrame", 0)):
        loader.SetInput(key, value)


def refresh_loader(loader):
    """Make a Loader read its files again (same names, new pixels): pass-through on and off, as public scripts do."""
    loader.SetAttrs({"TOOLB_PassThrough": True})
    loader.SetAttrs({"TOOLB_PassThrough": False})


def named_tool(comp, tool_id, tool_name):
    """The comp's tool ``tool_name`` of ``tool_id``, added when missing; None when Fusion has no such tool (a fuse
    that is not installed: AddTool gives nothing back)."""
    tool = comp.FindTool(tool_name)
    if tool is None or tool.GetAttrs()["TOOLS_RegID"] != tool_id:
        try:
            tool = comp.AddTool(tool_id, AUTO_PLACE, AUTO_PLACE)
        except (ValueError, RuntimeError):  # a host that raises for an unknown id instead of giving None
            tool = None
        if tool is None:
            return None
        tool.SetAttrs({"TOOLS_Name": tool_name, "TOOLB_NameSet": True})
    return tool


def pass_loader(comp, tool_name, first_pass, plate, channels, aux=None):
    """A Loader of the pass files showing the EXR channels ``channels`` (Red, Green, Blue, Alpha) as RGBA and
    ``aux`` ({slot: channel}, e.g. {"U": "stmap.R"}) in Fusion's auxiliary channels.

    Clip1.OpenEXRFormat.<Slot>Name are the Loader's EXR channel inputs: RedName..AlphaName, ZName, CovName, UName,
    VName, XNormName... (public scripts set them this way; Psyop's Cryptomatte fuse before its EXRIO rewrite put
    rank channels in those slots). One report says Resolve 21.1 ignores them when set by script: the merged frame
    is the remapping-free fallback.
    """
    loader = named_tool(comp, "Loader", tool_name)
    place_loader(loader, comp.ReverseMapPath(first_pass), plate["global_in"], len(plate["frames"]))
    slots = dict(zip(("Red", "Green", "Blue", "Alpha"), channels))
    slots.update(aux or {})
    for slot, exr_name in slots.items():
        loader.SetInput("Clip1.OpenEXRFormat.{}Name".format(slot), exr_name)
    refresh_loader(loader)
    return loader


def _header(path):
    try:
        return exr.read_header(path)
    except (OSError, ValueError):
        return {"channels": [], "parts": 0}


def crypto_tools(comp, first_pass, plate, settings, log):
    """FaceSwap_crypto (a Loader of the passes: the face as RGBA; the file's Cryptomatte header and path travel as
    the image's metadata) and, when Psyop's fuse is installed and can read the files, FaceSwap_cryptomatte fed by
    it, its matte list set to the faces asked for. Otherwise the log says what to do.

    Psyop's fuse (fusion/Modules/Lua/cryptomatte_utilities.lua, 1.4.0) reads the metadata ``Filename`` and
    ``cryptomatte/<key>/name|manifest`` of its input image, then reads the ``<layer>NN.R/G/B/A`` channels from that
    file itself (EXRIO) and refuses a multi-part EXR ("multipart EXR not supported", Psyop commit 74e69c9 #49).
    """
    header = _header(first_pass)
    if CRYPTO_LAYER + "00.R" not in header["channels"]:
        return []
    loader = pass_loader(comp, "FaceSwap_crypto", first_pass, plate, FACE_CHANNELS)
    if header.get("parts", 1) > 1:
        log("facecomp FaceSwap: FaceSwap_crypto reads the Cryptomatte, but Psyop's Cryptomatte fuse refuses multi-part "
            "EXRs and these passes keep the ids in a second part: pick faces with the FaceSwap_matte_<face> Loaders")
        return [loader]
    fuse = named_tool(comp, CRYPTO_FUSE, "FaceSwap_cryptomatte")
    if fuse is None:
        log("facecomp FaceSwap: FaceSwap_crypto is ready for a Cryptomatte: " + CRYPTO_INSTALL)
        return [loader]
    fuse.ConnectInput("Input", loader)
    faces = [f.strip() for f in settings.get("faces", "").split(",") if f.strip() not in ("", "all", "largest")]
    if faces:
        fuse.SetInput("MatteList", ", ".join('"{}"'.format(f) for f in faces))  # the fuse's list: quoted names
    return [loader, fuse]


def stmap_tools(comp, first_pass, plate):
    """FaceSwap_stmap (a Loader with ``stmap.R/G`` in Fusion's U/V channels and the face's matte as alpha) and
    FaceSwap_stmap_apply (a Texture tool reading it): connect a painted face patch to its Texture input to put the
    patch back on the plate (docs/hosts.md). Nothing when the passes hold no STMap."""
    if "stmap.R" not in _header(first_pass)["channels"]:
        return []
    loader = pass_loader(comp, "FaceSwap_stmap", first_pass, plate, ("stmap.R", "stmap.G", "facemask.A", "facemask.A"),
                         aux={"U": "stmap.R", "V": "stmap.G"})
    texture = named_tool(comp, TEXTURE_TOOL, "FaceSwap_stmap_apply")
    if texture is None:
        return [loader]
    texture.ConnectInput("Input", loader)
    return [loader, texture]


def wire_passes(comp, plate, first_pass, settings, face_names, log=print):
    """Add or update the FaceSwap tools reading the passes and connect them for the compositor."""
    face = pass_loader(comp, "FaceSwap_face", first_pass, plate, FACE_CHANNELS)
    over = named_tool(comp, "Merge", "FaceSwap_over")
    over.ConnectInput("Background", plate["tool"])
    over.ConnectInput("Foreground", face)
    found = [face, over]
    for face_name in face_names:
        matte = "facemask_{}.A".format(face_name)
        found.append(pass_loader(comp, "FaceSwap_matte_" + face_name, first_pass, plate, (matte,) * 4))
    found += crypto_tools(comp, first_pass, plate, settings, log)
    found += stmap_tools(comp, first_pass, plate)
    result = over
    if settings["merged"]:
        result = pass_loader(comp, "FaceSwap_merged", first_pass, plate, ("R", "G", "B", "A"))
        found.append(result)
    for out in tools(comp, "MediaOut") + tools(comp, "Saver"):
        source = out.Input.GetConnectedOutput()
        if source is not None and name(source.GetTool()) in (name(plate["tool"]), "FaceSwap_over", "FaceSwap_merged"):
            out.ConnectInput("Input", result)
    return found

