"""Image-to-image translation (``resnets translate train|predict``)."""
