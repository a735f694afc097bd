// swift-tools-version:6.0
// libFuzzer harnesses for vggconv's readers, kept out of the main package so that `swift build` and
// `make test` never need the fuzzer runtime. Built by `make fuzz` (scripts/fuzz/run.sh) with
// `-sanitize=fuzzer,address`, the only way it links (the driver comes from the fuzzer runtime).
import PackageDescription

let package = Package(
    name: "VGGConvFuzz",
    dependencies: [.package(name: "vggconv", path: "..")],
    targets: [
        .target(name: "CFuzzerDriver"),
        .executableTarget(name: "VGGConvFuzz", dependencies: ["CFuzzerDriver", .product(name: "VGGConvKit", package: "vggconv")]),
    ]
)
