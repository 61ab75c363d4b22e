fn main() {
    // Only the Node addon needs napi's link setup; the plain-Rust test build must not get it.
    if std::env::var_os("CARGO_FEATURE_NODE").is_some() {
        napi_build::setup();
    }
}
