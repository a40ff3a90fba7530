"""A convolutional VAE for small images, as Latent Space Cartography trained.

Images are 64 × 64 RGBA (or any square size divisible by 8), premultiplied
by alpha and scaled to [0, 1]. The encoder maps an image to the mean and
log-variance of its latent Gaussian; the latent space we store is the mean.
The decoder maps latent points back to images, so later features can draw
reconstructions along a semantic vector.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TF's start-up chatter is not for users


def _keras():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


def premultiply(images: np.ndarray) -> np.ndarray:
    """uint8 RGBA (n, h, w, 4) → float32 premultiplied RGBA in [0, 1].

    Transparent pixels carry arbitrary RGB in PNGs; premultiplying makes
    them all zero so the model does not spend capacity on invisible colour.
    """
    x = images.astype(np.float32) / 255.0
    if x.shape[-1] == 4:
        x[..., :3] *= x[..., 3:4]
    return x


def unpremultiply(x: np.ndarray) -> np.ndarray:
    """Inverse of :func:`premultiply`, back to uint8 RGBA."""
    x = np.clip(np.asarray(x, dtype=np.float32), 0.0, 1.0)
    if x.shape[-1] == 4:
        alpha = x[..., 3:4]
        x = x.copy()
        x[..., :3] = np.where(alpha > 1e-3, x[..., :3] / np.maximum(alpha, 1e-3), 0.0)
    return np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)


def build(image_shape: tuple[int, int, int], latent_dim: int):
    """Encoder, decoder and the trainable VAE for images of ``image_shape``."""
    keras = _keras()
    from keras import layers, ops

    h, w, c = image_shape
    if h % 8 or w % 8:
        raise ValueError(f"image side must be divisible by 8, got {h}×{w}")

    class Sampling(layers.Layer):
        """Reparameterisation trick; adds the KL divergence to the model's loss."""

        def call(self, inputs):
            z_mean, z_log_var = inputs
            kl = -0.5 * ops.sum(1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var), axis=1)
            self.add_loss(ops.mean(kl))
            eps = keras.random.normal(ops.shape(z_mean), seed=self.seed_gen)
            return z_mean + ops.exp(0.5 * z_log_var) * eps

        def build(self, input_shape):
            self.seed_gen = keras.random.SeedGenerator(1337)

    enc_in = keras.Input(shape=image_shape, name="image")
    x = layers.Conv2D(32, 4, strides=2, padding="same", activation="relu")(enc_in)
    x = layers.Conv2D(64, 4, strides=2, padding="same", activation="relu")(x)
    x = layers.Conv2D(128, 4, strides=2, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    encoder = keras.Model(enc_in, [z_mean, z_log_var], name=f"encoder{latent_dim}")

    dec_in = keras.Input(shape=(latent_dim,), name="z")
    y = layers.Dense(256, activation="relu")(dec_in)
    y = layers.Dense((h // 8) * (w // 8) * 128, activation="relu")(y)
    y = layers.Reshape((h // 8, w // 8, 128))(y)
    # Upsample-then-convolve rather than strided transposed convolutions,
    # which leave a checkerboard pattern on decoded images.
    for filters in (64, 32):
        y = layers.UpSampling2D(2)(y)
        y = layers.Conv2D(filters, 3, padding="same", activation="relu")(y)
    y = layers.UpSampling2D(2)(y)
    y = layers.Conv2D(c, 3, padding="same", activation="sigmoid")(y)
    decoder = keras.Model(dec_in, y, name=f"decoder{latent_dim}")

    m, lv = encoder(enc_in)
    vae = keras.Model(enc_in, decoder(Sampling()([m, lv])), name=f"vae{latent_dim}")

    def reconstruction(y_true, y_pred):
        # Summed over pixels (not averaged) so it is weighed properly
        # against the KL term, as in the original VAE objective.
        return ops.sum(ops.binary_crossentropy(y_true, y_pred), axis=(1, 2, 3))

    vae.compile(optimizer=keras.optimizers.Adam(1e-3), loss=reconstruction)
    return encoder, decoder, vae


@dataclass
class TrainedVAE:
    encoder: object
    decoder: object
    val_loss: float
    history: dict


def train(
    x: np.ndarray,
    latent_dim: int,
    *,
    epochs: int = 20,
    batch_size: int = 64,
    val_fraction: float = 0.1,
    seed: int = 42,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> TrainedVAE:
    """Train a VAE on premultiplied images ``x``; validation loss on a held-out split."""
    keras = _keras()
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_val = max(1, int(round(len(x) * val_fraction))) if len(x) > 10 else 0
    val, tr = order[:n_val], order[n_val:]
    encoder, decoder, vae = build(tuple(x.shape[1:]), latent_dim)

    callbacks = []
    if on_epoch is not None:
        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: on_epoch(e, logs or {})))
    hist = vae.fit(
        x[tr],
        x[tr],
        validation_data=(x[val], x[val]) if n_val else None,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    val_loss = history.get("val_loss", history["loss"])[-1]
    return TrainedVAE(encoder=encoder, decoder=decoder, val_loss=float(val_loss), history=history)


def encode(encoder, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Latent means of premultiplied images."""
    z_mean, _ = encoder.predict(x, batch_size=batch_size, verbose=0)
    return np.asarray(z_mean, dtype=np.float32)


def decode(decoder, z: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Images (uint8 RGBA) for latent points ``z``."""
    z = np.asarray(z, dtype=np.float32)
    if len(z) <= 32:
        # a direct call: Keras's predict() sets up a data pipeline each time, ~100× the cost of decoding a
        # few points (the probe decodes one point per request)
        x = np.asarray(decoder(z, training=False))
    else:
        x = decoder.predict(z, batch_size=batch_size, verbose=0)
    return unpremultiply(x)


def load(path: str):
    """Load a saved encoder or decoder."""
    return _keras().saving.load_model(path, compile=False)
