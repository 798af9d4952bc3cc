"""Import of DeepFaceLab work: facesets (DFLJPG), models (SAEHD, AMP, Quick96, XSeg) through a restricted reader."""
