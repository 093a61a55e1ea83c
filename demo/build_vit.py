"""Build the demo model behind ``make serve``: a small Vision Transformer named ``ViT``.

It mirrors the model in the classic TensorFlow Serving tutorial (a client posts a 32x32x3
image of raw 0-255 pixel values to ``/v1/models/ViT:predict`` and prints the argmax), so the
same client works unchanged against shiba.  No downloads: it trains on scikit-learn's bundled
``load_digits`` (8x8, values 0-16), drawn as 32x32x3 images with values 0-255.

The model rescales pixels itself, cuts the image into 8x8 patches, embeds them, prepends a
class token, adds position embeddings, runs a few pre-norm transformer encoder blocks with
multi-head self-attention, and maps the class token to 10 softmax probabilities.  It is
exported as a TensorFlow SavedModel to ``<out>/ViT/1/`` with a ``serving_default``
signature: input ``images`` float32 [-1, 32, 32, 3], output ``probabilities`` float32 [-1, 10],
and its class names, the digits ``0`` to ``9``, in ``assets.extra/labels.txt`` (one a line), which
shiba's web page and ``shiba predict --top`` show.

    python demo/build_vit.py --out DIR [--force] [--epochs N] [--seed S]

It is idempotent (an existing ``DIR/ViT/1/saved_model.pb`` is kept unless ``--force``, and
that check does not import TensorFlow), exports into a temporary folder and renames it into
place, prints held-out accuracy and build time, and exits 1 (installing nothing) if accuracy
is below 0.90.  Seeded and deterministic; about 97% held-out accuracy in about a minute on
two CPU cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

SIZE = 32  # the client resizes to 32x32
PATCH = 8  # 16 patches; each covers 2x2 pixels of the 8x8 digit
DIM, HEADS, DEPTH, MLP = 64, 4, 4, 128
EPOCHS, BATCH, LEARNING_RATE, DROPOUT = 20, 64, 2e-3, 0.1
SPLIT_SEED = 0  # the held-out split never changes, so examples/images stay held out
MIN_ACCURACY = 0.90
LABELS = [str(digit) for digit in range(10)]  # class i of `probabilities` is the digit i


def write_labels(version: Path) -> None:
    """Write ``version/assets.extra/labels.txt``: the name of each class, one a line."""
    extra = version / "assets.extra"
    extra.mkdir(parents=True, exist_ok=True)
    (extra / "labels.txt").write_text("\n".join(LABELS) + "\n")


def draw(digits: npt.NDArray[Any], size: int = SIZE) -> npt.NDArray[np.uint8]:
    """Draw 8x8 digits (0-16) as ``size`` x ``size`` x 3 uint8 images (0-255).

    Nearest-neighbour upscaling: a 128x128 (or 64x64) drawing shrunk with ``cv2.resize``
    (bilinear, half-pixel centres) gives exactly the 32x32 drawing, so the examples' path
    through the client matches training.
    """
    import numpy as np

    grey = np.asarray(digits, dtype=np.float64).reshape(-1, 8, 8)
    grey = np.rint(grey * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    scale = size // 8
    grey = grey.repeat(scale, axis=1).repeat(scale, axis=2)
    return np.repeat(grey[..., None], 3, axis=-1)


def load_split() -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    """``load_digits`` split 80/20, stratified, fixed: (x_train, y_train, x_test, y_test)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        digits.images,
        digits.target,
        test_size=0.2,
        random_state=SPLIT_SEED,
        stratify=digits.target,
    )
    return x_train, y_train, x_test, y_test


def augment(
    images: npt.NDArray[np.uint8], rng: np.random.Generator, shift: int = 3
) -> npt.NDArray[np.uint8]:
    """A copy of each image, shifted by up to +-``shift`` px and dimmed by up to 30%."""
    import numpy as np

    padded = np.pad(images, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
    out = np.empty_like(images)
    dy, dx = rng.integers(0, 2 * shift + 1, size=(2, len(images)))
    gain = rng.uniform(0.7, 1.0, size=len(images))
    for i in range(len(images)):
        crop = padded[i, dy[i] : dy[i] + SIZE, dx[i] : dx[i] + SIZE] * gain[i]
        out[i] = np.rint(crop).astype(np.uint8)
    return out


def make_model() -> Any:
    """The ViT as a Keras functional model: float32 pixels 0-255 in, probabilities out."""
    import keras

    tokens = (SIZE // PATCH) ** 2

    class ClassTokenAndPosition(keras.layers.Layer):  # type: ignore[misc]
        """Prepend a learned class token and add learned position embeddings."""

        def build(self, input_shape: tuple[int | None, ...]) -> None:
            init = keras.initializers.TruncatedNormal(stddev=0.02)
            self.cls = self.add_weight(shape=(1, 1, DIM), initializer=init, name="cls")
            self.pos = self.add_weight(shape=(1, tokens + 1, DIM), initializer=init, name="pos")

        def call(self, x: Any) -> Any:
            cls = keras.ops.broadcast_to(self.cls, (keras.ops.shape(x)[0], 1, DIM))
            return keras.ops.concatenate([cls, x], axis=1) + self.pos

    inputs = keras.Input(shape=(SIZE, SIZE, 3), dtype="float32", name="images")
    x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
    x = keras.layers.Conv2D(DIM, PATCH, strides=PATCH, name="patch_embedding")(x)
    x = keras.layers.Reshape((tokens, DIM), name="patches")(x)
    x = ClassTokenAndPosition(name="class_token_and_position")(x)
    for i in range(DEPTH):
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm1")(x)
        h = keras.layers.MultiHeadAttention(
            HEADS, DIM // HEADS, dropout=DROPOUT, name=f"block{i}_attention"
        )(h, h)
        x = keras.layers.Add(name=f"block{i}_add1")([x, h])
        h = keras.layers.LayerNormalization(epsilon=1e-6, name=f"block{i}_norm2")(x)
        h = keras.layers.Dense(MLP, activation="gelu", name=f"block{i}_mlp1")(h)
        h = keras.layers.Dense(DIM, name=f"block{i}_mlp2")(h)
        x = keras.layers.Add(name=f"block{i}_add2")([x, h])
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="final_norm")(x)
    x = keras.layers.Cropping1D((0, tokens), name="class_token")(x)  # keep token 0 only
    x = keras.layers.Flatten(name="class_vector")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="ViT")


def export(model: Any, path: Path) -> None:
    """Write a SavedModel whose only signature is ``serving_default``: images -> probabilities."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    spec = tf.TensorSpec([None, SIZE, SIZE, 3], tf.float32, name="images")
    archive.add_endpoint(
        "serving_default",
        lambda images: {"probabilities": model(images, training=False)},
        input_signature=[spec],
    )
    archive.write_out(str(path), verbose=False)


def build(
    out: Path, *, epochs: int | None = None, seed: int = 0, min_accuracy: float = 0.0
) -> float:
    """Train the ViT, export it to ``out/ViT/1/`` (replacing any old one), return accuracy.

    The export is written to a temporary folder beside ``out/ViT/1`` and renamed into place;
    if held-out accuracy is below ``min_accuracy`` nothing is installed.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    rng = np.random.default_rng(seed)
    epochs = EPOCHS if epochs is None else epochs

    x_train, y_train, x_test, y_test = load_split()
    clean = draw(x_train)
    y = np.concatenate([y_train, y_train])

    model = make_model()
    steps = epochs * -(-len(y) // BATCH)
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, warmup_target=LEARNING_RATE, warmup_steps=max(1, steps // 10)
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule, weight_decay=0.05),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    for _ in range(epochs):  # each epoch: every image once as drawn, once freshly augmented
        x = np.concatenate([clean, augment(clean, rng)]).astype(np.float32)
        model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
    probabilities = model.predict(draw(x_test).astype(np.float32), batch_size=256, verbose=0)
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == y_test))
    if accuracy < min_accuracy:
        return accuracy

    parent = Path(out) / "ViT"
    parent.mkdir(parents=True, exist_ok=True)
    final, tag = parent / "1", f"{os.getpid()}-{time.monotonic_ns()}"
    staging, old = parent / f".1.tmp-{tag}", parent / f".1.old-{tag}"  # not version numbers
    try:
        export(model, staging)
        write_labels(staging)
        if final.exists():
            final.rename(old)
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if final.exists():
            shutil.rmtree(old, ignore_errors=True)
    return accuracy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="model base path; writes ViT/1/")
    parser.add_argument("--force", action="store_true", help="rebuild even if already built")
    parser.add_argument("--epochs", type=int, default=None, help=f"default {EPOCHS}")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    target = args.out / "ViT" / "1"
    if (target / "saved_model.pb").exists() and not args.force:
        if not (target / "assets.extra" / "labels.txt").exists():
            write_labels(target)  # a model built before the labels were
        print(f"{target} already exists; keeping it (use --force to rebuild)")
        return 0
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter
    start = time.perf_counter()
    accuracy = build(args.out, epochs=args.epochs, seed=args.seed, min_accuracy=MIN_ACCURACY)
    seconds = time.perf_counter() - start
    print(f"held-out accuracy {accuracy:.4f}, built in {seconds:.1f}s")
    if accuracy < MIN_ACCURACY:
        print(f"accuracy below {MIN_ACCURACY:.2f}; nothing exported", file=sys.stderr)
        return 1
    print(f"exported {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
