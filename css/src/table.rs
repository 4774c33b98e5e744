//! Lazily allocated subchannel tables: css image → subchannel set → page of
//! 256 subchannels. Lookup is three indexed loads, lock-free; an image, set
//! or page that never held a device allocates nothing (PoO, chapter 15,
//! "Subchannel Sets" and chapter 17 MCSS-E: up to 256 images, 4 sets of
//! 65,536 subchannels each).

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

use zcss_ccw::sid::SubchannelId;

use crate::subchannel::Subchannel;

/// Number of css images (255 is reserved but still indexable).
pub(crate) const IMAGES: usize = 256;

type Slot<T> = OnceLock<Box<T>>;

fn slots<T, const N: usize>() -> Box<[Slot<T>; N]> {
    Box::new(std::array::from_fn(|_| OnceLock::new()))
}

/// 256 consecutive subchannels.
pub(crate) struct Page {
    slots: Box<[Slot<Subchannel>; 256]>,
}

/// One subchannel set.
pub(crate) struct SetTable {
    pages: Box<[Slot<Page>; 256]>,
    /// Highest subchannel number that holds a device, -1 if none.
    highest: AtomicI32,
}

impl SetTable {
    fn new() -> Self {
        Self {
            pages: slots(),
            highest: AtomicI32::new(-1),
        }
    }

    /// The highest subchannel number with a device, if any.
    pub fn highest(&self) -> Option<u16> {
        u16::try_from(self.highest.load(Ordering::Acquire)).ok()
    }

    pub fn set_highest(&self, h: Option<u16>) {
        self.highest.store(h.map_or(-1, i32::from), Ordering::Release);
    }
}

/// One css image.
pub(crate) struct Image {
    sets: [Slot<SetTable>; 4],
}

/// All tables.
pub(crate) struct Tables {
    images: Box<[Slot<Image>; IMAGES]>,
}

impl Default for Tables {
    fn default() -> Self {
        Self { images: slots() }
    }
}

impl Tables {
    /// The set table, if it was ever allocated.
    #[inline]
    pub fn set(&self, cssid: u8, ssid: u8) -> Option<&SetTable> {
        let image = self.images[usize::from(cssid)].get()?;
        image.sets.get(usize::from(ssid))?.get().map(|b| &**b)
    }

    /// The subchannel, if its slot was ever allocated.
    #[inline]
    pub fn get(&self, sid: SubchannelId) -> Option<&Subchannel> {
        let set = self.set(sid.cssid, sid.ssid)?;
        let page = set.pages[usize::from(sid.schno >> 8)].get()?;
        page.slots[usize::from(sid.schno & 0xff)].get().map(|b| &**b)
    }

    /// The set table, allocating it.
    pub fn set_or_alloc(&self, cssid: u8, ssid: u8) -> Option<&SetTable> {
        let image = self.images[usize::from(cssid)].get_or_init(|| {
            Box::new(Image {
                sets: std::array::from_fn(|_| OnceLock::new()),
            })
        });
        Some(
            image
                .sets
                .get(usize::from(ssid))?
                .get_or_init(|| Box::new(SetTable::new())),
        )
    }

    /// The subchannel, allocating its slot (and page, set, image).
    pub fn get_or_alloc(&self, sid: SubchannelId) -> Option<&Subchannel> {
        let set = self.set_or_alloc(sid.cssid, sid.ssid)?;
        let page = set.pages[usize::from(sid.schno >> 8)].get_or_init(|| Box::new(Page { slots: slots() }));
        Some(page.slots[usize::from(sid.schno & 0xff)].get_or_init(|| Box::new(Subchannel::new(sid))))
    }

    /// Every allocated subchannel, in (cssid, ssid, schno) order.
    pub fn for_each(&self, mut f: impl FnMut(&Subchannel)) {
        for image in self.images.iter().filter_map(OnceLock::get) {
            for set in image.sets.iter().filter_map(OnceLock::get) {
                for page in set.pages.iter().filter_map(OnceLock::get) {
                    for sch in page.slots.iter().filter_map(OnceLock::get) {
                        f(sch);
                    }
                }
            }
        }
    }

    /// Whether css image `cssid` was ever allocated.
    pub fn has_image(&self, cssid: u8) -> bool {
        self.images[usize::from(cssid)].get().is_some()
    }
}
