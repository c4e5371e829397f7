"""Semantic segmentation on dilated registry backbones: FCN and DeepLabV3 heads, mIoU."""
