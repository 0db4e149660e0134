//! TEMPORARY placeholder with the agreed API; replaced by the stub branch.
#![allow(missing_docs)]
pub struct StubProfile;
impl StubProfile {
    pub fn named(_n: &str) -> Result<Self, String> {
        Ok(Self)
    }
    pub fn with_models<I: IntoIterator<Item = String>>(self, _m: I) -> Self {
        self
    }
}
pub struct InstantStub;
impl InstantStub {
    pub async fn start(_p: StubProfile) -> Result<Self, String> {
        Err("todo".into())
    }
    pub fn url(&self) -> &str {
        ""
    }
}
pub struct PacedStub;
impl PacedStub {
    pub async fn start(_p: StubProfile) -> Result<Self, String> {
        Err("todo".into())
    }
    pub fn url(&self) -> &str {
        ""
    }
}
