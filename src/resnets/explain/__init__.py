"""What a network looks at: Grad-CAM and Grad-CAM++ maps (``resnets explain``)."""
