package webhook

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"math/big"
	mrand "math/rand/v2"
	"slices"
	"testing"
)

// A second, independent model of the Ed25519 curve for the tests: affine
// coordinates with math/big and the complete twisted Edwards addition law,
// decoding as crypto/ed25519 does (non-canonical encodings included) and
// taking square roots with big.Int.ModSqrt where the code under test uses
// the Jacobi symbol.

var (
	tP = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 255), big.NewInt(19))
	tD = func() *big.Int {
		d, _ := new(big.Int).SetString("37095705934669439343138083508754565189542113879843219016388785533085940283555", 10)
		return d
	}()
	// tL is the order of the base point, 2^252 + 27742317777372353535851937790883648493.
	tL = func() *big.Int {
		c, _ := new(big.Int).SetString("27742317777372353535851937790883648493", 10)
		return c.Add(c, new(big.Int).Lsh(big.NewInt(1), 252))
	}()
)

type tPoint struct{ x, y *big.Int }

func tIdentity() tPoint { return tPoint{big.NewInt(0), big.NewInt(1)} }

func (a tPoint) equal(b tPoint) bool { return a.x.Cmp(b.x) == 0 && a.y.Cmp(b.y) == 0 }

func tMod(v *big.Int) *big.Int { return v.Mod(v, tP) }

func tDiv(a, b *big.Int) *big.Int {
	return tMod(new(big.Int).Mul(a, new(big.Int).ModInverse(b, tP)))
}

// tAdd is the addition law of -x^2 + y^2 = 1 + d x^2 y^2; it is complete
// (also doubles, and handles the identity) because d is not a square.
func tAdd(a, b tPoint) tPoint {
	x1y2 := new(big.Int).Mul(a.x, b.y)
	y1x2 := new(big.Int).Mul(a.y, b.x)
	x1x2 := new(big.Int).Mul(a.x, b.x)
	y1y2 := new(big.Int).Mul(a.y, b.y)
	t := tMod(new(big.Int).Mul(tD, tMod(new(big.Int).Mul(x1x2, y1y2))))
	one := big.NewInt(1)
	x3 := tDiv(tMod(x1y2.Add(x1y2, y1x2)), tMod(new(big.Int).Add(one, t)))
	y3 := tDiv(tMod(y1y2.Add(y1y2, x1x2)), tMod(new(big.Int).Sub(one, t)))
	return tPoint{x3, y3}
}

func tMul(k *big.Int, p tPoint) tPoint {
	r := tIdentity()
	for i := k.BitLen() - 1; i >= 0; i-- {
		r = tAdd(r, r)
		if k.Bit(i) == 1 {
			r = tAdd(r, p)
		}
	}
	return r
}

// tDecode decodes like crypto/ed25519: the top bit is the sign of x, and y
// is taken modulo p (so y >= p is accepted), x = 0 with the sign bit set too.
// canonical reports whether enc is the one encoding tEncode gives.
func tDecode(enc []byte) (p tPoint, ok, canonical bool) {
	le := slices.Clone(enc)
	sign := uint(le[31] >> 7)
	le[31] &= 0x7f
	slices.Reverse(le)
	y := new(big.Int).SetBytes(le)
	canonical = y.Cmp(tP) < 0
	y = tMod(y)
	y2 := tMod(new(big.Int).Mul(y, y))
	u := tMod(new(big.Int).Sub(y2, big.NewInt(1)))
	v := tMod(new(big.Int).Add(new(big.Int).Mul(tD, y2), big.NewInt(1)))
	x := new(big.Int).ModSqrt(tDiv(u, v), tP)
	if x == nil {
		return tPoint{}, false, false
	}
	if x.Sign() == 0 && sign == 1 {
		canonical = false
	}
	if x.Bit(0) != sign {
		x = tMod(x.Neg(x))
	}
	// Check the curve equation itself, not only the square root.
	x2 := tMod(new(big.Int).Mul(x, x))
	lhs := tMod(new(big.Int).Sub(y2, x2))
	rhs := tMod(new(big.Int).Add(big.NewInt(1), tMod(new(big.Int).Mul(tD, tMod(new(big.Int).Mul(x2, y2))))))
	if lhs.Cmp(rhs) != 0 {
		return tPoint{}, false, false
	}
	return tPoint{x, y}, true, canonical
}

func tEncode(p tPoint) []byte {
	b := make([]byte, 32)
	p.y.FillBytes(b)
	slices.Reverse(b)
	b[31] |= byte(p.x.Bit(0)) << 7
	return b
}

// tAliases returns every encoding crypto/ed25519 decodes to p: y and, when
// it fits in 255 bits, y + p; each with x's sign bit, and with the other
// sign bit too when x = 0.
func tAliases(p tPoint) [][]byte {
	var out [][]byte
	for _, y := range []*big.Int{p.y, new(big.Int).Add(p.y, tP)} {
		if y.BitLen() > 255 {
			continue
		}
		signs := []uint{p.x.Bit(0)}
		if p.x.Sign() == 0 {
			signs = []uint{0, 1}
		}
		for _, s := range signs {
			b := make([]byte, 32)
			y.FillBytes(b)
			slices.Reverse(b)
			b[31] |= byte(s) << 7
			out = append(out, b)
		}
	}
	return out
}

func TestEdwardsModel(t *testing.T) {
	// d is -121665/121666.
	d := tDiv(new(big.Int).Sub(tP, big.NewInt(121665)), big.NewInt(121666))
	if d.Cmp(tD) != 0 {
		t.Fatal("d is not -121665/121666")
	}
	if d.Cmp(edwards25519().d) != 0 || edwards25519().p.Cmp(tP) != 0 {
		t.Fatal("the code's constants differ from the model's")
	}
	// The base point has order L; its encoding round-trips.
	bEnc, _ := hex.DecodeString("5866666666666666666666666666666666666666666666666666666666666666")
	B, ok, canonical := tDecode(bEnc)
	if !ok || !canonical || hex.EncodeToString(tEncode(B)) != hex.EncodeToString(bEnc) {
		t.Fatal("cannot decode the base point")
	}
	if !tMul(tL, B).equal(tIdentity()) || tMul(big.NewInt(8), B).equal(tIdentity()) {
		t.Fatal("the base point does not have order L")
	}
	// The model agrees with crypto/ed25519 on public keys: [seed scalar]B.
	// (Checked indirectly: a generated public key decodes, lies in the
	// prime-order subgroup, and is not small.)
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	A, ok, canonical := tDecode(pub)
	if !ok || !canonical || !tMul(tL, A).equal(tIdentity()) || A.equal(tIdentity()) {
		t.Fatal("a generated public key is not a canonical point of order L")
	}
}

// TestSmallOrderPointsAreTheTorsionSubgroup derives the points of order
// dividing 8 without the list: the curve group has order 8L (L prime), so
// [L]P lies in the subgroup of order 8 for every point P, and that
// subgroup is cyclic, generated by any such [L]P of order 8. Its 8 points'
// canonical encodings must be exactly smallOrderPoints.
func TestSmallOrderPointsAreTheTorsionSubgroup(t *testing.T) {
	var gen tPoint
	found := false
	for y := int64(2); y < 100 && !found; y++ {
		enc := tEncode(tPoint{big.NewInt(0), big.NewInt(y)})
		P, ok, _ := tDecode(enc)
		if !ok {
			continue
		}
		Q := tMul(tL, P)
		if !tMul(big.NewInt(4), Q).equal(tIdentity()) {
			gen, found = Q, true
		}
	}
	if !found {
		t.Fatal("no point with a torsion component of order 8 among y < 100")
	}
	var derived []string
	Q := tIdentity()
	for range 8 {
		if !tMul(big.NewInt(8), Q).equal(tIdentity()) {
			t.Fatal("a multiple of the generator has order not dividing 8")
		}
		derived = append(derived, hex.EncodeToString(tEncode(Q)))
		Q = tAdd(Q, gen)
	}
	if !Q.equal(tIdentity()) {
		t.Fatal("the generator's order is not 8")
	}
	listed := slices.Clone(smallOrderPoints[:])
	slices.Sort(derived)
	slices.Sort(listed)
	if !slices.Equal(derived, listed) || len(slices.Compact(derived)) != 8 {
		t.Fatalf("the torsion subgroup is\n%v\nbut smallOrderPoints lists\n%v", derived, listed)
	}

	// And each listed encoding, decoded on its own, has order dividing 8.
	for _, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		P, ok, canonical := tDecode(b)
		if !ok || !canonical || !tMul(big.NewInt(8), P).equal(tIdentity()) {
			t.Fatalf("%s: not a canonical point of order dividing 8", h)
		}
	}
}

// smallOrderEncodings returns all 14 encodings crypto/ed25519 decodes to a
// point of order dividing 8: the 8 canonical ones and 6 aliases.
func smallOrderEncodings(t *testing.T) (canonical, aliases [][]byte) {
	t.Helper()
	for _, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		P, _, _ := tDecode(b)
		for _, e := range tAliases(P) {
			if hex.EncodeToString(e) == h {
				canonical = append(canonical, e)
			} else {
				aliases = append(aliases, e)
			}
		}
	}
	if len(canonical) != 8 || len(aliases) != 6 {
		t.Fatalf("got %d canonical and %d non-canonical small-order encodings, want 8 and 6", len(canonical), len(aliases))
	}
	return canonical, aliases
}

func TestCheckEd25519PublicKeyRefusesSmallOrder(t *testing.T) {
	canonical, aliases := smallOrderEncodings(t)
	for _, e := range append(canonical, aliases...) {
		P, ok, _ := tDecode(e)
		if !ok || !tMul(big.NewInt(8), P).equal(tIdentity()) {
			t.Fatalf("%x: the model does not decode it to a small-order point", e)
		}
		if checkEd25519PublicKey(e) == "" {
			t.Errorf("%x: small-order key accepted", e)
		}
	}
}

// TestCheckEd25519PublicKeyAgreesWithModel compares the check with the
// model on random encodings (half of them are not points), on every
// encoding with y >= p, and on points of order 2L, 4L and 8L.
func TestCheckEd25519PublicKeyAgreesWithModel(t *testing.T) {
	r := mrand.New(mrand.NewChaCha8([32]byte{'w', 'e', 'd'}))
	var cases [][]byte
	for range 2000 {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		cases = append(cases, b)
	}
	for k := int64(0); k < 19; k++ { // y = p + k, both signs
		y := new(big.Int).Add(tP, big.NewInt(k))
		for _, s := range []byte{0, 0x80} {
			b := make([]byte, 32)
			y.FillBytes(b)
			slices.Reverse(b)
			b[31] |= s
			cases = append(cases, b)
		}
	}
	// Mixed-order points (prime-order part plus a torsion part) are not
	// small: the check accepts them, as crypto/ed25519 and libsodium do.
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	A, _, _ := tDecode(pub)
	for _, h := range smallOrderPoints {
		b, _ := hex.DecodeString(h)
		T, _, _ := tDecode(b)
		cases = append(cases, tEncode(tAdd(A, T)))
	}

	var points, refused int
	for _, b := range cases {
		P, ok, canonical := tDecode(b)
		small := ok && tMul(big.NewInt(8), P).equal(tIdentity())
		want := ok && canonical && !small
		reason := checkEd25519PublicKey(b)
		if (reason == "") != want {
			t.Fatalf("%x: check says %q, model says point=%v canonical=%v small=%v", b, reason, ok, canonical, small)
		}
		if ok {
			points++
		}
		if reason != "" {
			refused++
		}
	}
	t.Logf("%d encodings: %d decode to points, %d refused", len(cases), points, refused)
}

// The public half of every generated key passes, whether it came from
// GenerateKeyPair (whpk_) or from a whsk_ seed.
func TestCheckEd25519PublicKeyAcceptsGeneratedKeys(t *testing.T) {
	for range 1000 {
		seed := make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			t.Fatal(err)
		}
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if reason := checkEd25519PublicKey(pub); reason != "" {
			t.Fatalf("generated public key refused: %s", reason)
		}
	}
}

func BenchmarkCheckEd25519PublicKey(b *testing.B) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if checkEd25519PublicKey(pub) != "" {
			b.Fatal("refused")
		}
	}
}
