// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "vggconv",
    products: [
        .library(name: "VGGConvKit", targets: ["VGGConvKit"]),
        .executable(name: "vggconv", targets: ["vggconv"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Thin C wrappers: the only places that see C types.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CISAL", pkgConfig: "libisal", providers: [.apt(["libisal-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),

        // Hot loops Swift cannot express well: the conversion's transpose (prefetch, SIMD shuffles) and the
        // inference kernels (Winograd stages, direct 3x3 convolution; AVX2 + FMA variants chosen at run time).
        .target(name: "CKernels"),
        // JPEG and PNG through libjpeg-turbo and libpng, whose errors longjmp: kept in C behind setjmp.
        // renameat2 (no-replace and exchange renames), which Swift's Glibc module does not export.
        .target(name: "CFileRename"),
        .target(name: "CImageCodecs", linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png")]),

        // Bytes and files, knowing nothing of models: mapped inputs, outputs placed by rename, zip, npy,
        // dtypes and shapes, CRC-32, budgets, the one error type and its remedies.
        .target(name: "FileIO", dependencies: ["CZlib", "CISAL", "CKernels", "CFileRename"]),
        // The model: layers, LayerSchema, ModelCheck, the assembler, summaries, the native .vggw format.
        .target(name: "VGGCore", dependencies: ["FileIO", "CKernels"]),
        // Every Keras HDF5 flavour (the only module that imports CHDF5).
        .target(name: "KerasFormat", dependencies: ["VGGCore", "CHDF5"]),
        // PyTorch torch.save files: zip and legacy containers, a restricted unpickler.
        .target(name: "TorchFormat", dependencies: ["VGGCore"]),
        // ONNX: the reader (protobuf parsed in place, the graph recognised by pattern) and the writer.
        .target(name: "OnnxFormat", dependencies: ["VGGCore"]),
        // safetensors: the container (header checks) and models in it (PyTorch keys, timm's, vggconv's metadata).
        .target(name: "SafetensorsFormat", dependencies: ["VGGCore", "TorchFormat"]),
        // Photos in (decoded and resized as Pillow does, preprocessed as Keras and torchvision do), PNGs out.
        .target(name: "Imaging", dependencies: ["VGGCore", "CImageCodecs"]),
        // The CPU inference engine over native files (the only module that imports CBLAS).
        .target(name: "Inference", dependencies: ["VGGCore", "CBLAS", "CKernels"]),
        // Format detection and the conversion pipeline the CLI calls.
        .target(name: "VGGConvKit", dependencies: ["VGGCore", "KerasFormat", "TorchFormat", "SafetensorsFormat", "OnnxFormat", "Inference", "Imaging", "CKernels"]),
        // Argument parsing only.
        .executableTarget(name: "vggconv", dependencies: [
            "VGGConvKit", "VGGCore", "Imaging",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Paths to samples, expected tensors from the generator, and running the built binary.
        .target(name: "TestSupport", dependencies: ["VGGCore"], path: "Tests/TestSupport"),
        .testTarget(name: "VGGCoreTests", dependencies: ["VGGCore", "TestSupport"]),
        // Keras reading, and the files the Keras writers leave (read back with libhdf5 and the other readers).
        .testTarget(name: "KerasFormatTests", dependencies: ["KerasFormat", "TorchFormat", "SafetensorsFormat", "VGGConvKit", "VGGCore", "FileIO", "CHDF5", "TestSupport"]),
        .testTarget(name: "TorchFormatTests", dependencies: ["TorchFormat", "VGGConvKit", "TestSupport"]),
        .testTarget(name: "OnnxFormatTests", dependencies: ["OnnxFormat", "VGGConvKit", "VGGCore", "FileIO", "TestSupport"]),
        .testTarget(name: "InferenceTests", dependencies: ["Inference", "VGGConvKit", "TestSupport", "CKernels"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "VGGCore", "TestSupport"]),
        .testTarget(name: "VGGConvKitTests", dependencies: ["VGGConvKit", "VGGCore", "FileIO", "KerasFormat", "TorchFormat", "Inference", "Imaging", "TestSupport"]),
        // The binary end to end: no format module, only what a user of the tool and the library sees.
        .testTarget(name: "CLITests", dependencies: ["VGGConvKit", "VGGCore", "FileIO", "Imaging", "TestSupport"]),
    ]
)
