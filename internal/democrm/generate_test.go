package democrm

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidIDNumber(t *testing.T) {
	// withCheck completes 17 digits with their correct check character, so
	// that a case fails for the reason it names and not the check.
	withCheck := func(first17 string) string { return first17 + string(idCheckDigit(first17)) }
	tests := []struct {
		desc string
		id   string
		want bool
	}{
		{"GB 11643 example, check X", "11010519491231002X", true},
		{"lowercase x", "11010519491231002x", true},
		{"seed", SeedIDNumber, true},
		{"Shenzhen Futian, check 1", "440304199001010011", true},
		{"wrong check digit", "110105194912310021", false},
		{"X where a digit belongs", "44030419900101001X", false},
		{"17 digits", "11010519491231002", false},
		{"19 characters", "11010519491231002XX", false},
		{"letter in body", "11010519491231A02X", false},
		{"15-digit old format", "110105491231002", false},
		{"unknown province 99", withCheck("99010519900101001"), false},
		{"30 February", withCheck("11010519900230001"), false},
		{"month 13", withCheck("11010519901301001"), false},
		{"born in the future", withCheck("11010520990101001"), false},
		{"born 1899", withCheck("11010518990101001"), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		if got := ValidIDNumber(tt.id); got != tt.want {
			t.Errorf("%s: ValidIDNumber(%q) = %v, want %v", tt.desc, tt.id, got, tt.want)
		}
	}
}

func TestValidMobile(t *testing.T) {
	for s, want := range map[string]bool{
		SeedMobile:       true,
		"15912345678":    true,
		"19912345678":    true,
		"15412345678":    false, // 154 is not assigned
		"12012345678":    false,
		"1381234567":     false,
		"+8613812345678": false,
		"1381234567a":    false,
	} {
		if got := ValidMobile(s); got != want {
			t.Errorf("ValidMobile(%q) = %v, want %v", s, got, want)
		}
	}
}

var (
	emailRE  = regexp.MustCompile(`^[a-z0-9.]+@[a-z0-9]+\.(com|net)$`)
	openIDRE = regexp.MustCompile(`^o[A-Za-z0-9_-]{27}$`)
	qqRE     = regexp.MustCompile(`^[1-9][0-9]{4,10}$`)
	pinyinRE = regexp.MustCompile(`^[A-Z][a-z]+ [A-Z][a-z]+$`)
)

// TestGeneratedCustomers checks every field of many customers against the
// rules a detector or a reviewer would apply to real data.
func TestGeneratedCustomers(t *testing.T) {
	d := Generate(42, 20000, 0)
	provinces := map[string]bool{}
	for c := range d.Customers() {
		if c.ID == SeedCustomerID {
			if !reflect.DeepEqual(c, seedCustomer()) {
				t.Errorf("customer 1 is not the seed customer: %+v", c)
			}
		}
		if !ValidIDNumber(c.IDNumber) {
			t.Fatalf("customer %d: invalid ID number %q", c.ID, c.IDNumber)
		}
		if got := c.Birthday.Format("20060102"); got != c.IDNumber[6:14] {
			t.Fatalf("customer %d: birthday %s, ID number says %s", c.ID, got, c.IDNumber[6:14])
		}
		male := (c.IDNumber[16]-'0')%2 == 1
		if male != (c.Gender == "男") || (c.Gender != "男" && c.Gender != "女") {
			t.Fatalf("customer %d: gender %q, ID number %s", c.ID, c.Gender, c.IDNumber)
		}
		if !ValidMobile(c.Mobile) {
			t.Fatalf("customer %d: invalid mobile %q", c.ID, c.Mobile)
		}
		if n := utf8.RuneCountInString(c.Name); n < 2 || n > 4 {
			t.Fatalf("customer %d: odd name %q", c.ID, c.Name)
		}
		if !pinyinRE.MatchString(c.NamePinyin) {
			t.Fatalf("customer %d: pinyin %q", c.ID, c.NamePinyin)
		}
		if c.Email != "" && !emailRE.MatchString(c.Email) && c.ID != SeedCustomerID {
			t.Fatalf("customer %d: email %q", c.ID, c.Email)
		}
		if c.WechatOpenID != "" && !openIDRE.MatchString(c.WechatOpenID) {
			t.Fatalf("customer %d: openid %q", c.ID, c.WechatOpenID)
		}
		if c.QQNumber != "" && !qqRE.MatchString(c.QQNumber) {
			t.Fatalf("customer %d: QQ %q", c.ID, c.QQNumber)
		}
		ct := cityByName[c.City]
		if ct == nil || ct.province != c.Province {
			t.Fatalf("customer %d: city %q not in province %q", c.ID, c.City, c.Province)
		}
		prefix := c.Province + c.City
		if ct.municipality() {
			prefix = c.City
		}
		if !strings.HasPrefix(c.Address, prefix) || !strings.Contains(c.Address, "号") {
			t.Fatalf("customer %d: address %q not in %s", c.ID, c.Address, prefix)
		}
		if c.VIPLevel < 0 || c.VIPLevel > 5 {
			t.Fatalf("customer %d: vip level %d", c.ID, c.VIPLevel)
		}
		if c.CreatedAt.Before(customersFrom) || !c.CreatedAt.Before(customersUntil) {
			t.Fatalf("customer %d: created_at %v", c.ID, c.CreatedAt)
		}
		provinces[c.Province] = true
	}
	if len(provinces) < 25 {
		t.Errorf("customers come from only %d provinces", len(provinces))
	}
}

func TestGeneratedOrders(t *testing.T) {
	d := Generate(7, 2000, 20000)
	for o := range d.Orders() {
		if o.CustomerID < 1 || o.CustomerID > int64(d.NumCustomers) {
			t.Fatalf("order %d: customer %d out of range", o.ID, o.CustomerID)
		}
		c := d.Customer(o.CustomerID)
		if o.CreatedAt.Before(c.CreatedAt) || !o.CreatedAt.Before(ordersUntil) {
			t.Fatalf("order %d at %v, customer since %v", o.ID, o.CreatedAt, c.CreatedAt)
		}
		if o.AmountCents < 990 || o.AmountCents > 990000 {
			t.Fatalf("order %d: amount %d", o.ID, o.AmountCents)
		}
		if !ValidMobile(o.ShipPhone) {
			t.Fatalf("order %d: ship phone %q", o.ID, o.ShipPhone)
		}
		if !strings.Contains(o.ShipAddress, o.City) {
			t.Fatalf("order %d: address %q not in city %q", o.ID, o.ShipAddress, o.City)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b, other := Generate(1, 500, 500), Generate(1, 500, 500), Generate(2, 500, 500)
	same := 0
	for id := int64(2); id <= 500; id++ {
		if !reflect.DeepEqual(a.Customer(id), b.Customer(id)) ||
			!reflect.DeepEqual(a.Order(id), b.Order(id)) ||
			!reflect.DeepEqual(a.Note(id%250+1), b.Note(id%250+1)) {
			t.Fatalf("row %d differs between two runs with one seed", id)
		}
		if a.Customer(id).IDNumber == other.Customer(id).IDNumber {
			same++
		}
	}
	if same > 5 {
		t.Errorf("seeds 1 and 2 agree on %d of 499 ID numbers", same)
	}
	// Pin a few values, so that a change to the generator that alters the
	// data (and every benchmark and golden file built on it) is noticed.
	c := a.Customer(2)
	if c.Name != "贺雪金" || c.IDNumber != "530103200408190800" || c.Mobile != "15184061192" {
		t.Errorf("seed 1 customer 2 changed: %+v", c)
	}
}

// TestSeedValuesUnique checks the promise SeedPII makes: its values occur in
// the seed rows and nowhere else.
func TestSeedValuesUnique(t *testing.T) {
	d := Generate(3, 20000, 50000)
	check := func(where string, fields ...string) {
		for _, f := range fields {
			for _, s := range SeedPII() {
				if strings.Contains(f, s) {
					t.Fatalf("%s: %q contains seed value %q", where, f, s)
				}
			}
		}
	}
	for c := range d.Customers() {
		if c.ID == SeedCustomerID {
			continue
		}
		check("customer "+c.IDNumber, c.Name, c.NamePinyin, c.Mobile, c.Email, c.IDNumber, c.Address, c.WechatOpenID, c.QQNumber)
	}
	for o := range d.Orders() {
		if o.ID == SeedOrderID {
			if o.CustomerID != SeedCustomerID || o.ShipPhone != SeedMobile {
				t.Errorf("order 1 is not the seed order: %+v", o)
			}
			continue
		}
		if o.CustomerID == SeedCustomerID {
			t.Fatalf("order %d belongs to the seed customer", o.ID)
		}
		check("order", o.ShipPhone, o.ShipAddress)
	}
	for n := range d.Notes() {
		if n.ID == SeedNoteID {
			for _, s := range []string{SeedName, SeedMobile, SeedIDNumber, SeedEmail} {
				if !strings.Contains(n.Note, s) {
					t.Errorf("seed note %q does not mention %q", n.Note, s)
				}
			}
			continue
		}
		check("note", n.Note)
	}
	if !ValidIDNumber(SeedIDNumber) || !ValidMobile(SeedMobile) || !openIDRE.MatchString(SeedOpenID) || !qqRE.MatchString(SeedQQ) {
		t.Error("a seed value is not well-formed")
	}
}

func TestCopyText(t *testing.T) {
	got := string(appendField(nil, "a\\b\tc\nd\re"))
	if want := "\ta\\\\b\\tc\\nd\\re"; got != want {
		t.Errorf("appendField = %q, want %q", got, want)
	}
	for cents, want := range map[int64]string{0: "0.00", 5: "0.05", 12345: "123.45", -990: "-9.90"} {
		if got := string(appendCents(nil, cents)); got != want {
			t.Errorf("appendCents(%d) = %q, want %q", cents, got, want)
		}
	}
	row := string(appendCustomer(nil, seedCustomer()))
	want := "1\t张伟\tZhang Wei\t13812345678\tzhangwei.pgveil@163.com\t11010519880520123X\t1988-05-20\t男\t北京市\t北京市\t" +
		SeedAddress + "\t" + SeedOpenID + "\t3141592653\t3\tf\t2019-03-15 10:20:30+08\n"
	if row != want {
		t.Errorf("seed customer row:\n got %q\nwant %q", row, want)
	}
}

func TestSetupSQLQuotes(t *testing.T) {
	sql := SetupSQL("it's", "x")
	if !strings.Contains(sql, "PASSWORD 'it''s'") {
		t.Errorf("password not quoted:\n%s", sql)
	}
}

func BenchmarkGenerateOrder(b *testing.B) {
	d := Generate(1, 100000, 1000000)
	var buf []byte
	for i := 0; b.Loop(); i++ {
		buf = appendOrder(buf[:0], d.Order(int64(i%1000000)+2))
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkGenerateCustomer(b *testing.B) {
	d := Generate(1, 100000, 1000000)
	var buf []byte
	for i := 0; b.Loop(); i++ {
		buf = appendCustomer(buf[:0], d.Customer(int64(i%100000)+2))
	}
	b.SetBytes(int64(len(buf)))
}
