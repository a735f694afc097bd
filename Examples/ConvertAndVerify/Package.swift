// swift-tools-version:6.0
// An app that uses vggconv as a library: load a Keras sample, check it against Keras's own outputs,
// convert it for PyTorch. `make test` builds and runs it; see README.md here.
import PackageDescription

let package = Package(
    name: "ConvertAndVerify",
    dependencies: [.package(name: "vggconv", path: "../..")],
    targets: [
        .executableTarget(name: "ConvertAndVerify", dependencies: [.product(name: "VGGConvKit", package: "vggconv")]),
    ]
)
