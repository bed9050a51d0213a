r"""Evaluates one bag: derain every frame of a topic, write the output bag, measure each frame.

    every message ----------------------------------------> output bag (as recorded)
    image topic -> decode -> Derainer -> encode as input --> output bag, derained topic
                                     \\-> latency, BRISQUE, detections
    ground-truth topic -> decode -> paired by stamp -> PSNR/SSIM, detection agreement

Frames are derained in bag order, one ``Derainer.run_batch`` call per
``batch`` frames of one size, so results do not depend on timing. A bag that
turns out corrupt part-way stops there: what was read is derained, written and
reported. ``evaluate_bag`` is a plain function of picklable arguments so that
worker processes and Ray tasks can run it (see ``fleet``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.interfaces import Connection
from rosbags.serde import SerdeError

from sapnet_ros.derainer import Derainer, open_derainer
from sapnet_ros.errors import BagError, ImageFormatError
from sapnet_ros.evaluation.detectors import Detection, Detector, agreement, create_detector
from sapnet_ros.evaluation.noreference import Brisque
from sapnet_ros.evaluation.pairing import StampPairer
from sapnet_ros.evaluation.records import CLEAN, DERAINED, RAINY, BagResult, DetectionStats, FrameRecord
from sapnet_ros.evaluation.thumbnails import ThumbnailPicker, side_by_side
from sapnet_ros.frames import colour_view, to_bgr8
from sapnet_ros.io.atomic import atomic_folder
from sapnet_ros.io.bags import (
    COMPRESSED_IMAGE,
    BagWriter,
    Passthrough,
    compressed_message,
    connections_for,
    header,
    image_message,
    open_bag,
    read_messages,
    stamp_ns,
    topics,
)
from sapnet_ros.io.messages import Decoded
from sapnet_ros.metrics import image_qualities, luma, luma_change
from sapnet_ros.pipeline import DerainedFrame, compressed_payload, decode, derain_decoded
from sapnet_ros.settings import DerainSettings

LOG = logging.getLogger(__name__)
PAIRING_HORIZON_NS = 5_000_000_000  # give up on a frame's ground truth 5 s of stamps later


@dataclass(frozen=True)
class EvalOptions:
    """How every bag is evaluated; picklable, as worker processes and Ray tasks receive it.

    Attributes:
        image_topic: the rainy camera topic (Image or CompressedImage).
        gt_topic: clean twins of those frames, paired by header stamp; None without.
        derained_topic: where derained frames go; None = ``derained_topic_for(image_topic)``.
        derain: how to derain (backend, sizes, rain gate); with a gate, one
            gate for the image topic, advanced frame by frame in bag order.
        batch: frames of one size per backend call (latency is then the per-frame share).
        detector: ``hog``, ``none`` or ``onnx:PATH``.
        gt_tolerance_ns: largest stamp difference of a frame and its ground truth.
        thumbnails: best and worst frames shown.
        jpeg_quality: for derained CompressedImage output of JPEG input.
    """

    image_topic: str
    gt_topic: str | None = None
    derained_topic: str | None = None
    derain: DerainSettings = field(default_factory=DerainSettings)
    batch: int = 1
    detector: str = "hog"
    gt_tolerance_ns: int = 1_000_000
    thumbnails: int = 3
    jpeg_quality: int = 95

    @property
    def output_topic(self) -> str:
        """The topic derained frames are written to."""
        return self.derained_topic or derained_topic_for(self.image_topic)


@dataclass(frozen=True)
class BagJob:
    """One bag to evaluate and where its derained copy goes.

    The copy is built in a staging folder beside ``output_bag`` (see
    ``io.atomic.atomic_folder``) that belongs to process ``owner_pid`` (None:
    the one evaluating), so that a parent can remove its workers' leftovers.
    """

    name: str
    source: Path
    output_bag: Path
    owner_pid: int | None = None


def derained_topic_for(topic: str) -> str:
    """Where ``derain_node`` would publish: ``/cam/image_raw`` -> ``/cam/image_derained``.

    image_transport's ``/compressed`` stays last: ``/cam/image_raw/compressed``
    -> ``/cam/image_derained/compressed``.
    """
    compressed = topic.endswith("/compressed")
    base = topic.removesuffix("/compressed") if compressed else topic
    namespace = base.rsplit("/", 1)[0]
    return f"{namespace}/image_derained" + ("/compressed" if compressed else "")


@dataclass
class _Frame:
    """A frame between reading and its record; arrays are dropped once it is recorded."""

    index: int
    stamp: int
    timestamp: int
    frame_id: str
    decoded: Decoded
    compressed_format: str | None  # "jpeg"/"png" for CompressedImage input
    derained: DerainedFrame | None = None
    record: FrameRecord | None = None  # made once derained, filled in as the frame is measured
    found: dict[str, list[Detection]] = field(default_factory=dict)


class _BagEvaluator:
    """The state of one bag's evaluation; ``evaluate_bag`` drives it message by message."""

    def __init__(
        self,
        options: EvalOptions,
        tools: tuple[Derainer, Detector | None, Brisque | None],
        writer: BagWriter,
        progress: Callable[[int], object] | None,
        start_time: int,
    ) -> None:
        self.options = options
        self.derainer, self.detector, self.brisque = tools
        self.writer = writer
        self.progress = progress or (lambda frames: None)
        self.start_time = start_time
        self.pairer: StampPairer[_Frame, Decoded] = StampPairer(
            options.gt_tolerance_ns, PAIRING_HORIZON_NS, on_unpaired=self._unpaired
        )
        self.thumbnails = ThumbnailPicker(options.thumbnails)
        self.records: list[FrameRecord] = []
        self.skipped: dict[str, int] = {}
        self.frames_seen = 0
        self._pending: list[_Frame] = []
        # variant -> shape and dtype of the topic's last frame and its luma, for the change to the next frame
        self._previous: dict[str, tuple[tuple[int, ...], np.dtype, np.ndarray]] = {}

    def skip(self, reason: str, count: int = 1) -> None:
        """Count frames skipped for ``reason``; the first of each reason is logged as a warning."""
        if reason not in self.skipped:
            LOG.warning("skipping %s (warned once; the report counts them)", reason)
        self.skipped[reason] = self.skipped.get(reason, 0) + count

    def frame(self, reader: AnyReader, connection: Connection, timestamp: int, raw: bytes) -> None:
        """Decode a frame of the image topic and queue it for deraining."""
        index, self.frames_seen = self.frames_seen, self.frames_seen + 1
        decoded = self._decode(reader, connection, raw, "frames")
        if decoded is None:
            self.progress(1)
            return
        msg, image = decoded
        compressed = None
        if connection.msgtype == COMPRESSED_IMAGE:
            compressed = "png" if "png" in msg.format.lower() else "jpeg"
        item = _Frame(index, stamp_ns(msg), timestamp, msg.header.frame_id, image, compressed)
        if self._pending and self._batch_key(self._pending[0]) != self._batch_key(item):
            self.flush()
        self._pending.append(item)
        if len(self._pending) >= self.options.batch:
            self.flush()

    def reference(self, reader: AnyReader, connection: Connection, raw: bytes) -> None:
        """Decode a ground-truth frame and pair it with its derained frame."""
        decoded = self._decode(reader, connection, raw, "ground-truth frames")
        if decoded is not None:
            msg, image = decoded
            pair = self.pairer.add_reference(stamp_ns(msg), image)
            if pair:
                self._record(*pair)

    def flush(self) -> None:
        """Derain the queued frames, write them to the output bag and measure them."""
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        streams = [self.options.image_topic] * len(batch)
        try:
            outputs = derain_decoded(self.derainer, [item.decoded for item in batch], streams)
        except ImageFormatError as err:
            self.skip(f"frames the Derainer refused: {err}", len(batch))
            self.progress(len(batch))
            return
        for item, derained in zip(batch, outputs, strict=True):
            timing = derained.timing
            item.derained = derained
            item.record = FrameRecord(
                item.index,
                item.stamp,
                (item.timestamp - self.start_time) / 1e9,
                timing.total_ms / len(batch),
                timing.inference_ms / len(batch),
                gate=derained.rain,
            )
            self._write(item)
            self._measure(item)
            if self.options.gt_topic:
                pair = self.pairer.add_frame(item.stamp, item)
                if pair:
                    self._record(*pair)
            else:
                self._record(item)
        self.progress(len(batch))

    def finish(self) -> list[FrameRecord]:
        """Derain what is queued, give up on ground truth still missing; the records by index."""
        self.flush()
        self.pairer.finish()
        return sorted(self.records, key=lambda r: r.index)

    @staticmethod
    def _batch_key(item: _Frame) -> tuple[Any, ...]:
        return item.decoded.array.shape[:2], item.decoded.order

    def _decode(self, reader: AnyReader, connection: Connection, raw: bytes, what: str) -> tuple[Any, Decoded] | None:
        try:
            msg: Any = reader.deserialize(raw, connection.msgtype)
            return msg, decode(msg, connection.msgtype == COMPRESSED_IMAGE, self.options.derain.max_pixels)
        except AnyReaderError as err:
            self.skip(f"{what} that cannot be deserialized ({err})")
        except ImageFormatError as err:
            self.skip(f"{what}: {str(err).split(';')[0]}")
        return None

    def _write(self, item: _Frame) -> None:
        frame = item.derained
        assert frame is not None
        msg_header = header(item.stamp, item.frame_id)
        if item.compressed_format:
            image_format, data = compressed_payload(frame, item.compressed_format, self.options.jpeg_quality)
            msg = compressed_message(image_format, data, msg_header)
        else:
            msg = image_message(frame.array, frame.encoding, msg_header)
        self.writer.write(self.options.output_topic, msg, item.timestamp)

    def _measure(self, item: _Frame) -> None:
        """Reference-free figures: BRISQUE (without ground truth), detections, change from the previous frame."""
        record = item.record
        assert item.derained is not None and record is not None
        order = item.decoded.order
        variants = {RAINY: item.decoded.array, DERAINED: item.derained.array}
        for variant, image in variants.items():
            current = luma(image, order)
            previous = self._previous.get(variant)
            if previous is not None and previous[:2] == (image.shape, image.dtype):
                record.change[variant] = luma_change(previous[2], current, np.ones(current.shape, bool))
            self._previous[variant] = image.shape, image.dtype, current
            if self.brisque:
                record.no_reference[variant] = self.brisque.score(image, order)
            if self.detector:
                item.found[variant] = self.detector.detect(image, order)

    def _record(self, item: _Frame, clean: Decoded | None = None) -> None:
        """Complete a derained frame's FrameRecord with its ground truth (if paired) and detections."""
        record = item.record
        assert item.derained is not None and record is not None
        order = item.decoded.order
        shown = [(item.decoded.array, order), (item.derained.array, order)]  # thumbnail panels and their orders
        if clean is not None:
            views = [colour_view(image, order, "rgb") for image, _ in shown]
            reference = colour_view(clean.array, clean.order, "rgb")
            if self._comparable(views[0], reference):
                record.quality[RAINY], record.quality[DERAINED] = image_qualities(views, reference)
                shown.append((clean.array, clean.order))
                if self.detector:
                    item.found[CLEAN] = self.detector.detect(clean.array, clean.order)
                    for variant in (RAINY, DERAINED):
                        record.agreement[variant] = agreement(item.found[variant], item.found[CLEAN])
        for variant, found in item.found.items():
            scores = [d.score for d in found]
            record.detections[variant] = DetectionStats(len(found), float(np.mean(scores)) if scores else None)
        self.records.append(record)
        self._offer_thumbnail(
            record, lambda: side_by_side([to_bgr8(image, image_order) for image, image_order in shown])
        )
        item.derained = None  # the arrays are no longer needed

    def _unpaired(self, item: _Frame) -> None:
        tolerance_ms = self.options.gt_tolerance_ns / 1e6
        self.skip(f"PSNR/SSIM of frames without a ground-truth frame within {tolerance_ms:g} ms")
        self._record(item)

    def _comparable(self, frame: np.ndarray, reference: np.ndarray) -> bool:
        """Whether the RGB views of a frame and its ground truth can be compared; counts a skip where not."""
        if frame.shape == reference.shape and frame.dtype == reference.dtype:
            return True
        self.skip(f"ground truth {reference.dtype} {reference.shape} unlike its frame {frame.dtype} {frame.shape}")
        return False

    def _offer_thumbnail(self, record: FrameRecord, draw: Callable[[], bytes]) -> None:
        """Rank by PSNR gain with ground truth, else by BRISQUE improvement; ``draw`` only runs for a frame kept."""
        if record.quality:
            score = record.quality[DERAINED].psnr_rgb - record.quality[RAINY].psnr_rgb
        elif record.no_reference:
            score = record.no_reference[RAINY] - record.no_reference[DERAINED]
        else:
            return
        self.thumbnails.offer(score, record.index, record.stamp_ns, draw)


def ranking(options: EvalOptions) -> str:
    """What thumbnails are ranked by."""
    return "PSNR gain (dB, RGB)" if options.gt_topic else "BRISQUE improvement (rainy - derained)"


def evaluate_bag(job: BagJob, options: EvalOptions, progress: Callable[[int], object] | None = None) -> BagResult:
    """Derain and measure every frame of ``options.image_topic`` in one bag, writing ``job.output_bag``.

    Args:
        job: the bag and the output bag path (must not exist).
        options: topics, backend, detector, pairing.
        progress: called with the number of image-topic frames just finished.

    Raises:
        BagError: the bag cannot be opened, lacks a topic (the message lists
            its topics), or the output exists. Corruption found while reading
            (or a bag cut short) does not raise: the result's ``error`` says
            how far it got. An interrupt leaves no output bag.
    """
    started = time.perf_counter()
    if job.output_bag.exists():
        raise BagError(f"{job.output_bag}: already exists; refusing to overwrite a bag")
    detector = create_detector(options.detector, options.derain.options.threads)
    brisque = None if options.gt_topic else Brisque()
    with open_bag(job.source) as reader:
        image_connections = connections_for(reader, options.image_topic)
        gt_connections = connections_for(reader, options.gt_topic) if options.gt_topic else []
        if options.output_topic in topics(reader):
            raise BagError(
                f"{job.source}: already has a topic {options.output_topic!r}; choose another --derained-topic"
            )
        with (
            open_derainer(options.derain) as derainer,
            atomic_folder(job.output_bag, job.owner_pid) as staging,  # the bag appears only when complete
            BagWriter(staging) as writer,
        ):
            evaluator = _BagEvaluator(options, (derainer, detector, brisque), writer, progress, reader.start_time)
            copy = Passthrough(reader, writer)
            read, error = 0, None
            try:
                for connection, timestamp, raw in read_messages(reader):
                    read += 1
                    try:
                        copy(connection, timestamp, raw)
                    except SerdeError as err:
                        evaluator.skip(f"messages on {connection.topic} not convertible to ROS 2 ({err})")
                    if connection in image_connections:
                        evaluator.frame(reader, connection, timestamp, raw)
                    elif connection in gt_connections:
                        evaluator.reference(reader, connection, raw)
            except BagError as err:
                error = str(err)
                LOG.error("%s; keeping the %d frames read before", error, evaluator.frames_seen)
            records = evaluator.finish()
            info = derainer.backend.info
        return BagResult(
            name=job.name,
            source=str(job.source),
            output_bag=str(job.output_bag),
            image_topic=options.image_topic,
            derained_topic=options.output_topic,
            gt_topic=options.gt_topic,
            backend={"name": info.name, "device": info.device, "precision": info.precision},
            detector=detector.name if detector else "none",
            records=records,
            skipped=evaluator.skipped,
            frames_read=evaluator.frames_seen,
            frames_total=sum(c.msgcount for c in image_connections),
            messages_read=read,
            messages_total=reader.message_count,
            error=error,
            ranking=ranking(options),
            thumbnails=evaluator.thumbnails.picked(),
            wall_s=time.perf_counter() - started,
        )
