//! Same story, one row: the same call or news relayed by several sources with slightly
//! different wording is grouped so the editor reads it once.
//!
//! MinHash over 3-word shingles, with LSH banding to find candidates without comparing every
//! pair. Pure and deterministic: the same text gives the same [`Signature`] and the same
//! [`band_keys`] on every run, process and platform, so both can be stored (`to_bytes`, and
//! the band keys as `bigint` columns) and compared with items seen weeks earlier.
//!
//! Changing anything in the normalisation or the hashing changes every signature: stored
//! signatures and band keys must then be recomputed (the `fixed_values` test pins them).

use std::collections::HashMap;

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Number of MinHash functions, i.e. slots in a [`Signature`].
pub const HASHES: usize = 64;

/// Number of LSH bands; each covers [`ROWS`] consecutive slots.
pub const BANDS: usize = 16;

/// Slots per band.
pub const ROWS: usize = HASHES / BANDS;

/// Estimated similarity at or above which two items are the same story.
///
/// A relay with light rewording (another title, a "Relayé par" prefix, punctuation, accents
/// dropped, a sentence added) scores about 0.7 in the tests (exact Jaccard 0.74); two calls
/// built on the same ministry template (same opening formula and boilerplate sentence,
/// different subject, country and deadline) score about 0.2 (exact 0.23). 0.45 sits between
/// them, about four standard deviations of the 64-slot estimate from each. With 16 bands of
/// 4 rows a pair at true Jaccard 0.45 only becomes a candidate about half the time (0.6: 89 %,
/// 0.7: 99 %): borderline pairs may be missed, near-copies are not.
///
/// Jaccard is symmetric: a relay that cuts the summary short (40 words of a 70-word text)
/// scores about 0.3 against the full copy and is not grouped.
pub const THRESHOLD: f64 = 0.45;

/// At most this many words of the text (after normalisation) enter the signature: the
/// opening of a relay is what is copied, what follows is the relaying site's own matter.
const TEXT_WORDS: usize = 80;

/// Shingle length, in words.
const SHINGLE: usize = 3;

/// Per bucket, a new member is compared with at most this many representatives (members that
/// did not join an earlier representative's group), so a crowded bucket stays linear.
const BUCKET_REPRESENTATIVES: usize = 8;

/// French and English words too common to tell stories apart, after folding (no accents,
/// lower case). One-character tokens (à, a, l', d', y...) are dropped anyway. Sorted, for
/// binary search.
const STOP_WORDS: &[&str] = &[
    "an", "and", "are", "as", "at", "au", "aux", "avec", "be", "by", "ce", "ces", "cet", "cette",
    "dans", "de", "des", "du", "elle", "elles", "en", "est", "et", "for", "from", "il", "ils",
    "in", "is", "it", "its", "la", "le", "les", "leur", "leurs", "ne", "nous", "of", "on", "or",
    "ou", "par", "pas", "pour", "qu", "que", "qui", "sa", "se", "ses", "son", "sont", "sur",
    "that", "the", "this", "to", "un", "une", "vous", "was", "were", "with",
];

/// The longest stop word, in bytes: longer words need no look-up.
const STOP_WORD_MAX_LEN: usize = 5;

/// The stop words as big-endian integers, zero-padded: compared as integers, without the
/// string comparisons that took a quarter of [`signature`]'s time. Padding with zeros keeps
/// the alphabetical order, so the keys are sorted too.
const STOP_KEYS: [u64; STOP_WORDS.len()] = {
    let mut keys = [0u64; STOP_WORDS.len()];
    let mut i = 0;
    while i < STOP_WORDS.len() {
        keys[i] = stop_key(STOP_WORDS[i].as_bytes());
        i += 1;
    }
    keys
};

/// Up to 8 bytes as a big-endian integer, zero-padded.
const fn stop_key(bytes: &[u8]) -> u64 {
    let mut key = 0u64;
    let mut i = 0;
    while i < 8 {
        key <<= 8;
        if i < bytes.len() {
            key |= bytes[i] as u64;
        }
        i += 1;
    }
    key
}

fn is_stop_word(word: &str) -> bool {
    word.len() <= STOP_WORD_MAX_LEN && STOP_KEYS.binary_search(&stop_key(word.as_bytes())).is_ok()
}

/// A MinHash signature: per hash function, the smallest value over the item's shingles.
///
/// An item without any word gets the empty signature, every slot `u32::MAX`: a real slot
/// never holds that value (it is clamped to `u32::MAX - 1`), [`similarity`] returns 0 when
/// either side is empty and [`group`] leaves empty items alone, so it matches nothing, not
/// even another empty item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature([u32; HASHES]);

impl Signature {
    /// The signature of an item without words.
    pub const EMPTY: Signature = Signature([u32::MAX; HASHES]);

    /// Whether this is the signature of an item without words.
    pub fn is_empty(&self) -> bool {
        self.0[0] == u32::MAX
    }

    /// The slots, one per hash function.
    pub fn slots(&self) -> &[u32; HASHES] {
        &self.0
    }
}

impl Default for Signature {
    fn default() -> Self {
        Self::EMPTY
    }
}

/// Feeds the words that make up an item to `f` until it returns false: Unicode NFKD with
/// combining marks dropped (so accents go), lower case, œ/æ/ß spelt out, split on anything not
/// a letter or digit (so "l'Afrique" gives "afrique"), stop words and one-character tokens
/// dropped. The text is only read as far as needed; each word is lent from one buffer, reused.
///
/// Each character is decomposed on its own (ASCII needs nothing): the same result as NFKD of
/// the whole text once combining marks are dropped, as NFKD only adds their reordering, and
/// about twice as fast as the streaming normaliser.
fn for_each_word(text: &str, f: impl FnMut(&str) -> bool) {
    let mut words = Words {
        current: String::new(),
        f,
        done: false,
    };
    for c in text.chars() {
        if words.done {
            return;
        }
        if c.is_ascii() {
            words.push(c.to_ascii_lowercase());
        } else {
            decompose_compatible(c, |d| {
                // Lower-casing may produce combining marks again ("İ" gives "i" and a dot).
                if !is_combining_mark(d) {
                    d.to_lowercase()
                        .filter(|lc| !is_combining_mark(*lc))
                        .for_each(|lc| words.push(lc));
                }
            });
        }
    }
    words.flush();
}

/// The word being read, and where finished words go.
struct Words<F> {
    current: String,
    f: F,
    /// `f` asked for no more words.
    done: bool,
}

impl<F: FnMut(&str) -> bool> Words<F> {
    /// Takes a lower-case character without combining marks.
    fn push(&mut self, c: char) {
        match c {
            'œ' => self.current.push_str("oe"),
            'æ' => self.current.push_str("ae"),
            'ß' => self.current.push_str("ss"),
            c if c.is_alphanumeric() => self.current.push(c),
            _ => self.flush(),
        }
    }

    /// Ends the current word, handing it on unless it is a stop word or a single character.
    fn flush(&mut self) {
        if !self.current.is_empty()
            && !self.done
            && self.current.chars().nth(1).is_some()
            && !is_stop_word(&self.current)
        {
            self.done = !(self.f)(&self.current);
        }
        self.current.clear();
    }
}

/// An item's words end to end in one buffer, with where each ends: no allocation per word.
#[derive(Default)]
struct WordList {
    bytes: String,
    ends: Vec<usize>,
}

impl WordList {
    fn push(&mut self, word: &str) {
        self.bytes.push_str(word);
        self.ends.push(self.bytes.len());
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// One 64-bit hash for the shingle of words `range`: FNV-1a over the words' bytes, each
    /// word followed by 0xFF (a byte UTF-8 never uses, so ["ab", "c"] and ["a", "bc"] differ),
    /// then the splitmix64 finaliser so every bit depends on every input byte.
    fn shingle_hash(&self, range: std::ops::Range<usize>) -> u64 {
        let start = if range.start == 0 {
            0
        } else {
            self.ends[range.start - 1]
        };
        let mut from = start;
        let mut h = FNV_OFFSET;
        for &end in &self.ends[range] {
            h = fnv_word(h, &self.bytes.as_bytes()[from..end]);
            from = end;
        }
        splitmix64(h)
    }
}

/// The MinHash signature of an item: 3-word shingles (single words when there are fewer than
/// 3) over the title's words followed by the first 80 words of the plain text.
pub fn signature(title: &str, text: &str) -> Signature {
    let mut words = WordList::default();
    for_each_word(title, |w| {
        words.push(w);
        true
    });
    let mut taken = 0;
    for_each_word(text, |w| {
        words.push(w);
        taken += 1;
        taken < TEXT_WORDS
    });
    if words.is_empty() {
        return Signature::EMPTY;
    }
    let mut slots = [u32::MAX; HASHES];
    let mut add = |h: u64| {
        for (slot, &(a, b)) in slots.iter_mut().zip(PARAMS.iter()) {
            // Multiply-add, keep the high half; u32::MAX is kept for the empty signature.
            let v = ((a.wrapping_mul(h).wrapping_add(b) >> 32) as u32).min(u32::MAX - 1);
            *slot = (*slot).min(v);
        }
    };
    if words.len() < SHINGLE {
        (0..words.len()).for_each(|i| add(words.shingle_hash(i..i + 1)));
    } else {
        (0..=words.len() - SHINGLE).for_each(|i| add(words.shingle_hash(i..i + SHINGLE)));
    }
    Signature(slots)
}

/// Estimated Jaccard similarity of the two items' shingle sets: the fraction of equal slots.
/// 0 when either is empty.
pub fn similarity(a: &Signature, b: &Signature) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let equal = a.0.iter().zip(b.0.iter()).filter(|(x, y)| x == y).count();
    equal as f64 / HASHES as f64
}

/// One key per band of [`ROWS`] slots, the band index mixed in (equal rows in different bands
/// give different keys). Two items sharing a key are candidates, to be confirmed by
/// [`similarity`]. As `i64` to fit a `bigint` column. Every empty signature has the same
/// keys: a lookup must still confirm (and [`similarity`] says 0).
pub fn band_keys(sig: &Signature) -> [i64; BANDS] {
    let mut keys = [0i64; BANDS];
    for (band, (key, rows)) in keys.iter_mut().zip(sig.0.chunks_exact(ROWS)).enumerate() {
        let mut h = splitmix64(BAND_SEED ^ band as u64);
        for &row in rows {
            h = splitmix64(h ^ u64::from(row));
        }
        *key = h as i64;
    }
    keys
}

/// The signature as 256 bytes, slot after slot, little-endian.
pub fn to_bytes(sig: &Signature) -> Vec<u8> {
    sig.0.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A signature back from [`to_bytes`]. `None` for a wrong length, or for slots no signature
/// has (`u32::MAX` in some slots but not all).
pub fn from_bytes(bytes: &[u8]) -> Option<Signature> {
    if bytes.len() != HASHES * 4 {
        return None;
    }
    let mut slots = [0u32; HASHES];
    for (slot, chunk) in slots.iter_mut().zip(bytes.chunks_exact(4)) {
        *slot = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    let maxed = slots.iter().filter(|&&v| v == u32::MAX).count();
    if maxed != 0 && maxed != HASHES {
        return None;
    }
    Some(Signature(slots))
}

/// Indices of the items judged the same story, grouped: candidates share a band key, are
/// confirmed by `similarity >= THRESHOLD`, and groups are closed transitively. Each group is
/// sorted, groups are ordered by their first index, items alone form their own group. Empty
/// signatures are always alone.
///
/// In a bucket (items sharing a band key) a new item is compared only with up to 8
/// representatives, the earlier members that did not join another representative's group:
/// the work stays linear when many items share a band (a template's boilerplate), at the
/// price of rarely missing a pair another band usually finds.
pub fn group(sigs: &[Signature]) -> Vec<Vec<usize>> {
    let mut sets = UnionFind::new(sigs.len());
    let mut buckets: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, sig) in sigs.iter().enumerate() {
        if sig.is_empty() {
            continue;
        }
        for key in band_keys(sig) {
            let reps = buckets.entry(key).or_default();
            let mut joined = false;
            for &r in reps.iter() {
                if sets.find(r) == sets.find(i) {
                    joined = true;
                } else if similarity(&sigs[r], sig) >= THRESHOLD {
                    sets.union(r, i);
                    joined = true;
                }
            }
            if !joined && reps.len() < BUCKET_REPRESENTATIVES {
                reps.push(i);
            }
        }
    }
    let mut group_of_root: Vec<Option<usize>> = vec![None; sigs.len()];
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in 0..sigs.len() {
        let root = sets.find(i);
        match group_of_root[root] {
            Some(g) => groups[g].push(i),
            None => {
                group_of_root[root] = Some(groups.len());
                groups.push(vec![i]);
            }
        }
    }
    groups
}

/// Disjoint sets over `0..n`, with path halving and union by size.
struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    fn union(&mut self, a: usize, b: usize) {
        let (mut a, mut b) = (self.find(a), self.find(b));
        if a == b {
            return;
        }
        if self.size[a] < self.size[b] {
            std::mem::swap(&mut a, &mut b);
        }
        self.parent[b] = a;
        self.size[a] += self.size[b];
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
/// Seeds the multiply-add parameters of the hash functions.
const PARAMS_SEED: u64 = 0x5265_6c61_6973_4d48; // "RelaisMH"
/// Mixed into every band key.
const BAND_SEED: u64 = 0x5265_6c61_6973_4c53; // "RelaisLS"

/// FNV-1a of a word's bytes and the 0xFF after it, from `h`.
fn fnv_word(mut h: u64, word: &[u8]) -> u64 {
    for &byte in word.iter().chain(&[0xFF]) {
        h ^= u64::from(byte);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The splitmix64 finaliser (Steele, Lea, Flood 2014).
const fn splitmix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `(a, b)` of each hash function `a * h + b` (mod 2^64, high 32 bits kept); `a` odd. Drawn
/// once from splitmix64 with a fixed seed, at compile time.
const PARAMS: [(u64, u64); HASHES] = {
    let mut params = [(0u64, 0u64); HASHES];
    let mut state = PARAMS_SEED;
    let mut i = 0;
    while i < HASHES {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let a = splitmix64(state) | 1;
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let b = splitmix64(state);
        params[i] = (a, b);
        i += 1;
    }
    params
};

#[cfg(test)]
mod tests {
    use super::*;

    const MEAE_TITLE: &str = "Lancement de l'appel à projets PISCCA 2025 au Cameroun";
    const MEAE_TEXT: &str = "L'ambassade de France au Cameroun lance l'appel à projets \
        PISCCA 2025 (Projets innovants des sociétés civiles et coalitions d'acteurs). Ce fonds \
        soutient les organisations de la société civile camerounaise qui portent des projets \
        en faveur de l'égalité femmes-hommes, de la jeunesse et de la gouvernance locale. Les \
        subventions vont de 20 000 à 60 000 euros pour une durée de 12 à 24 mois. Les dossiers \
        doivent être déposés avant le 15 mars 2025 à minuit, heure de Yaoundé. Une réunion \
        d'information se tiendra le 10 février à l'Institut français de Yaoundé.";

    const AFD_TITLE: &str = "Cameroun : l’appel à projets PISCCA 2025 est ouvert";
    const AFD_TEXT: &str = "Relayé par l'AFD : l’ambassade de France au Cameroun lance \
        l’appel a projets PISCCA 2025 - Projets innovants des societes civiles et coalitions \
        d’acteurs. Ce fonds soutient les organisations de la societe civile camerounaise qui \
        portent des projets en faveur de l’egalite femmes-hommes, de la jeunesse et de la \
        gouvernance locale ; les subventions vont de 20 000 a 60 000 euros pour une duree de \
        12 a 24 mois. Les dossiers doivent etre deposes avant le 15 mars 2025 a minuit (heure \
        de Yaounde). L'AFD accompagne les lauréats dans le montage de leur dossier. Une \
        reunion d'information se tiendra le 10 fevrier a l'Institut francais de Yaounde.";

    const BOILERPLATE: &str = "Les dossiers sont à adresser par courriel au service de \
        coopération et d'action culturelle de l'ambassade, accompagnés des statuts de \
        l'association, du dernier rapport d'activité et d'un budget prévisionnel détaillé.";

    const SENEGAL_TITLE: &str = "Appel à projets « Jeunesse et solidarité » au Sénégal";
    const SENEGAL_TEXT: &str = "L'ambassade de France au Sénégal ouvre l'appel à projets \
        « Jeunesse et solidarité » destiné aux associations de jeunes de Dakar, Thiès et \
        Saint-Louis. Les projets retenus favoriseront l'insertion professionnelle des jeunes \
        et le volontariat de proximité dans les quartiers périphériques. La date limite de \
        dépôt est fixée au 30 avril 2025.";

    const BENIN_TITLE: &str = "Appel à projets « Eau et assainissement » au Bénin";
    const BENIN_TEXT: &str = "L'ambassade de France au Bénin ouvre l'appel à projets « Eau \
        et assainissement » destiné aux communes rurales et aux associations d'usagers des \
        départements du Zou et des Collines. Les projets retenus amélioreront l'accès à l'eau \
        potable et la gestion des latrines dans les écoles primaires. La date limite de dépôt \
        est fixée au 12 juin 2025.";

    const UN_TITLE: &str = "Sudan: UN warns of famine as fighting cuts aid routes in Darfur";
    const UN_TEXT: &str = "The World Food Programme said on Tuesday that more than 700,000 \
        people in North Darfur face catastrophic hunger, as clashes around El Fasher have \
        closed the last road used by humanitarian convoys. Agencies call on all parties to \
        allow safe passage.";

    fn template(text: &str) -> String {
        format!("{text} {BOILERPLATE}")
    }

    /// The corpus of the grouping tests: 0 and 1 the same call, 2 and 3 two calls from one
    /// template, 4 unrelated, 5 and 6 empty.
    fn corpus() -> Vec<Signature> {
        vec![
            signature(MEAE_TITLE, MEAE_TEXT),
            signature(AFD_TITLE, AFD_TEXT),
            signature(SENEGAL_TITLE, &template(SENEGAL_TEXT)),
            signature(BENIN_TITLE, &template(BENIN_TEXT)),
            signature(UN_TITLE, UN_TEXT),
            signature("", ""),
            signature(" « » ", "l' — d’ à"),
        ]
    }

    #[test]
    fn stop_words_are_sorted_and_folded() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(STOP_WORDS.iter().all(|w| w.len() <= STOP_WORD_MAX_LEN));
        assert!(STOP_KEYS.windows(2).all(|k| k[0] < k[1]));
        assert!(!is_stop_word("ande") && !is_stop_word("a") && !is_stop_word("lesquels"));
        for w in STOP_WORDS {
            assert_eq!(normalise_words(w), Vec::<String>::new(), "{w}");
        }
    }

    #[test]
    fn words_ignore_accents_case_apostrophes_and_stop_words() {
        assert_eq!(
            normalise_words("Développement"),
            normalise_words("developpement")
        );
        assert_eq!(normalise_words("DÉVELOPPEMENT"), vec!["developpement"]);
        assert_eq!(
            normalise_words("Le développement de l'Afrique, d’abord !"),
            vec!["developpement", "afrique", "abord"]
        );
        assert_eq!(
            normalise_words("The Fund for Water and Sanitation in Benin"),
            vec!["fund", "water", "sanitation", "benin"]
        );
        assert_eq!(
            normalise_words("Cœur d'ŒUVRE — ﬁnancement 2025"),
            vec!["coeur", "oeuvre", "financement", "2025"]
        );
        assert_eq!(normalise_words(""), Vec::<String>::new());
    }

    #[test]
    fn a_call_relayed_by_two_sources_is_one_story() {
        let s = corpus();
        let sim = similarity(&s[0], &s[1]);
        assert!(sim >= THRESHOLD + 0.1, "relay similarity {sim}");
        assert!(group(&s).contains(&vec![0, 1]));
    }

    #[test]
    fn two_calls_from_one_template_are_two_stories() {
        let s = corpus();
        let sim = similarity(&s[2], &s[3]);
        assert!(sim > 0.0, "they do share the boilerplate: {sim}");
        assert!(sim <= THRESHOLD - 0.15, "template similarity {sim}");
        let groups = group(&s);
        assert!(groups.contains(&vec![2]));
        assert!(groups.contains(&vec![3]));
    }

    #[test]
    fn unrelated_and_empty_items_stay_alone() {
        let s = corpus();
        assert!(s[5].is_empty() && s[6].is_empty());
        assert_eq!(s[5], s[6]);
        assert_eq!(similarity(&s[5], &s[6]), 0.0);
        assert_eq!(similarity(&s[5], &s[5]), 0.0);
        assert!(similarity(&s[4], &s[0]) < 0.1);
        assert_eq!(
            group(&s),
            vec![vec![0, 1], vec![2], vec![3], vec![4], vec![5], vec![6]]
        );
    }

    #[test]
    fn identical_items_are_fully_similar_and_order_does_not_matter() {
        let a = signature(MEAE_TITLE, MEAE_TEXT);
        assert_eq!(similarity(&a, &a.clone()), 1.0);
        let s = corpus();
        let reversed: Vec<_> = s.iter().rev().cloned().collect();
        assert_eq!(
            group(&reversed),
            vec![vec![0], vec![1], vec![2], vec![3], vec![4], vec![5, 6]]
        );
    }

    #[test]
    fn short_items_use_single_words() {
        let a = signature("Développement", "");
        let b = signature("", "developpement");
        assert!(!a.is_empty());
        assert_eq!(a, b);
        // One word in common out of two: the estimate is near 1/2.
        let s = similarity(&a, &signature("Développement durable", ""));
        assert!((0.3..=0.7).contains(&s), "{s}");
    }

    #[test]
    fn text_beyond_eighty_words_is_ignored() {
        let words: Vec<String> = (0..80).map(|i| format!("mot{i}")).collect();
        let text = words.join(" ");
        let a = signature("Titre", &text);
        let b = signature("Titre", &format!("{text} suite tout autre chose encore"));
        assert_eq!(a, b);
    }

    #[test]
    fn fixed_values() {
        // Pins the hashing: if this changes, stored signatures and band keys are stale.
        let sig = signature("Développement", "");
        assert_eq!(
            &sig.0[..4],
            &[0x24b5_83c2, 0x1bd9_70eb, 0xc407_6520, 0xf2d4_aeb5]
        );
        assert_eq!(band_keys(&sig)[0], 0xf776_863d_8c97_f1ee_u64 as i64);
        assert_eq!(
            band_keys(&Signature::EMPTY)[0],
            0x7d94_feb1_f188_33dd_u64 as i64
        );
    }

    /// The words of `text`, as [`for_each_word`] gives them.
    fn normalise_words(text: &str) -> Vec<String> {
        let mut words = Vec::new();
        for_each_word(text, |w| {
            words.push(w.to_owned());
            true
        });
        words
    }

    /// The signature as it was first written, a `String` per word: the reference.
    fn signature_reference(title: &str, text: &str) -> Signature {
        let mut words = normalise_words(title);
        words.extend(normalise_words(text).into_iter().take(TEXT_WORDS));
        if words.is_empty() {
            return Signature::EMPTY;
        }
        let hash = |shingle: &[String]| {
            let mut h = FNV_OFFSET;
            for w in shingle {
                for &byte in w.as_bytes().iter().chain(&[0xFF]) {
                    h ^= u64::from(byte);
                    h = h.wrapping_mul(FNV_PRIME);
                }
            }
            splitmix64(h)
        };
        let mut slots = [u32::MAX; HASHES];
        let size = if words.len() < SHINGLE { 1 } else { SHINGLE };
        for shingle in words.windows(size) {
            let h = hash(shingle);
            for (slot, &(a, b)) in slots.iter_mut().zip(PARAMS.iter()) {
                let v = ((a.wrapping_mul(h).wrapping_add(b) >> 32) as u32).min(u32::MAX - 1);
                *slot = (*slot).min(v);
            }
        }
        Signature(slots)
    }

    #[test]
    fn signatures_are_those_of_the_reference() {
        let long = template("Sénégal").repeat(3);
        let mut texts = crate::domain::search::tests::FOLD_SAMPLES.to_vec();
        texts.extend([MEAE_TITLE, MEAE_TEXT, AFD_TITLE, "deux mots", long.as_str()]);
        for title in &texts {
            for text in &texts {
                assert_eq!(
                    signature(title, text),
                    signature_reference(title, text),
                    "{title:?} {text:?}"
                );
            }
        }
    }

    #[test]
    fn bytes_round_trip() {
        for sig in corpus() {
            let bytes = to_bytes(&sig);
            assert_eq!(bytes.len(), 256);
            assert_eq!(from_bytes(&bytes), Some(sig));
        }
        let bytes = to_bytes(&signature(MEAE_TITLE, MEAE_TEXT));
        assert_eq!(from_bytes(&bytes[..255]), None);
        assert_eq!(from_bytes(&[bytes.clone(), vec![0]].concat()), None);
        assert_eq!(from_bytes(&[]), None);
        let mut half_empty = bytes;
        half_empty[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(from_bytes(&half_empty), None);
    }

    #[test]
    fn band_keys_depend_on_the_band() {
        let same_rows = Signature([7; HASHES]);
        let keys = band_keys(&same_rows);
        let mut distinct = keys.to_vec();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), BANDS);
        let a = signature(MEAE_TITLE, MEAE_TEXT);
        assert_eq!(band_keys(&a), band_keys(&a.clone()));
    }

    #[test]
    fn crowded_buckets_stay_linear() {
        // 2,000 copies of one story, 2,000 different items sharing their first band (all
        // pairs candidates: 2 million comparisons without the cap) and 2,000 empty items.
        let one = signature(MEAE_TITLE, MEAE_TEXT);
        let mut sigs = vec![one; 2000];
        sigs.extend((0..2000u32).map(|i| {
            let mut slots = [0; HASHES];
            for (j, slot) in slots.iter_mut().enumerate().skip(ROWS) {
                *slot = i * HASHES as u32 + j as u32;
            }
            Signature(slots)
        }));
        sigs.extend(std::iter::repeat_n(Signature::EMPTY, 2000));
        let started = std::time::Instant::now();
        let groups = group(&sigs);
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_secs(1), "{elapsed:?}");
        assert_eq!(groups.len(), 4001);
        assert_eq!(groups[0], (0..2000).collect::<Vec<_>>());
        assert!(groups[1..].iter().all(|g| g.len() == 1));
    }
}
