"""Make docs/before_after.jpg: each shipped sample next to its derained output."""

from pathlib import Path

import cv2
import numpy as np

from sapnet_ros import resources
from sapnet_ros.derainer import open_derainer
from sapnet_ros.io.images import read_image

HEIGHT = 240


def _fit(image: np.ndarray) -> np.ndarray:
    width = round(image.shape[1] * HEIGHT / image.shape[0])
    return cv2.resize(image, (width, HEIGHT), interpolation=cv2.INTER_AREA)


def main() -> None:
    rows = []
    with open_derainer() as derainer:
        for path in resources.sample_images():
            rainy = read_image(path)
            rows.append(
                np.hstack([_fit(rainy), np.full((HEIGHT, 6, 3), 255, np.uint8), _fit(derainer.run(rainy, "bgr"))])
            )
    width = max(row.shape[1] for row in rows)
    rows = [
        cv2.copyMakeBorder(row, 0, 6, 0, width - row.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
        for row in rows
    ]
    output = Path(__file__).parent.parent / "docs" / "before_after.jpg"
    cv2.imwrite(str(output), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {output}")


if __name__ == "__main__":
    main()
