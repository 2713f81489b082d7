"""CRMAssist core: CRM-positive region detection on axial T2 slices (torchvision Faster R-CNN)."""
