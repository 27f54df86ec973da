package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/keyward/keyward"
)

// maxAPIResponseBytes bounds a management API response; the largest (a long audit page or key
// list) is far below it.
const maxAPIResponseBytes = 16 << 20

// Client calls a keyward server's management API (/v1). Its methods are safe for concurrent use.
type Client struct {
	server    string
	ts        oauth2.TokenSource
	hc        *http.Client
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send its requests through hc. The Client adds the bearer token
// itself, so hc should not be an oauth2 client.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) { c.hc = hc }
}

// WithUserAgent sets the User-Agent header of every request.
func WithUserAgent(ua string) Option {
	return func(c *Client) { c.userAgent = ua }
}

// New returns a client of the server at the issuer URL server, authenticated with the tokens of
// ts: TokenSource for an API key, SessionTokenSource for a user. With a nil ts only the public
// routes (Permissions, Revocations, OpenAPI) work.
func New(server string, ts oauth2.TokenSource, opts ...Option) *Client {
	c := &Client{
		server:    server,
		ts:        ts,
		hc:        &http.Client{Timeout: 30 * time.Second},
		userAgent: "keyward-go-client/" + keyward.Version,
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Problem is an error answer of the management API: an RFC 9457 problem detail with the HTTP
// status. Detail is a sentence safe to show a user.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail"`
	Instance string `json:"instance,omitempty"`
}

func (p *Problem) Error() string {
	msg := fmt.Sprintf("keyward: %d %s", p.Status, p.Title)
	if p.Detail != "" {
		msg += ": " + p.Detail
	}
	return msg
}

// Me describes the caller.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out Me
	if err := c.do(ctx, http.MethodGet, "/v1/me", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Permissions returns the server's permission catalog. It needs no token.
func (c *Client) Permissions(ctx context.Context) ([]Permission, error) {
	var out List[Permission]
	if err := c.do(ctx, http.MethodGet, "/v1/permissions", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// CreateUser creates a user; only the instance administrator may.
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (*User, error) {
	var out User
	if err := c.do(ctx, http.MethodPost, "/v1/users", nil, req, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// Projects lists the projects the caller belongs to, with its permissions in each.
func (c *Client) Projects(ctx context.Context) ([]Project, error) {
	var out List[Project]
	if err := c.do(ctx, http.MethodGet, "/v1/projects", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// CreateProject creates a project; the caller (a user) becomes a member with every permission.
func (c *Client) CreateProject(ctx context.Context, name string) (*Project, error) {
	var out Project
	body := CreateProjectRequest{Name: name}
	if err := c.do(ctx, http.MethodPost, "/v1/projects", nil, body, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// Project returns one project, named by id or name.
func (c *Client) Project(ctx context.Context, project string) (*Project, error) {
	var out Project
	if err := c.do(ctx, http.MethodGet, projectPath(project), nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RenameProject gives a project (named by id or name) a new name; it needs projects-manage.
func (c *Client) RenameProject(ctx context.Context, project, name string) (*Project, error) {
	var out Project
	body := RenameProjectRequest{Name: name}
	if err := c.do(ctx, http.MethodPatch, projectPath(project), nil, body, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetProjectRequire2FA sets whether a project refuses members without a second factor; it
// needs what renaming needs, and turning it on needs a second factor of your own.
func (c *Client) SetProjectRequire2FA(ctx context.Context, project string, require bool) (*Project, error) {
	var out Project
	body := RenameProjectRequest{Require2FA: &require}
	if err := c.do(ctx, http.MethodPatch, projectPath(project), nil, body, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetProjectKeyPolicy replaces what a project requires of its API keys; it needs what renaming
// needs.
func (c *Client) SetProjectKeyPolicy(ctx context.Context, project string, policy KeyPolicy) (*Project, error) {
	var out Project
	body := RenameProjectRequest{KeyPolicy: &policy}
	if err := c.do(ctx, http.MethodPatch, projectPath(project), nil, body, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateProject changes the settings req sends (the fields it leaves out stay) in one request;
// it needs what renaming needs.
func (c *Client) UpdateProject(ctx context.Context, project string, req RenameProjectRequest) (*Project, error) {
	var out Project
	if err := c.do(ctx, http.MethodPatch, projectPath(project), nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteProject deletes a project with its members and keys; every token of it stops working at
// once. Only an owner of the project (a member holding every permission) may.
func (c *Client) DeleteProject(ctx context.Context, project string) error {
	return c.do(ctx, http.MethodDelete, projectPath(project), nil, nil, nil, http.StatusNoContent)
}

// AllProjects lists every project of the instance, with the caller's permissions in each (none
// where the caller is no member); only an instance administrator may, anyone else gets 404.
func (c *Client) AllProjects(ctx context.Context) ([]Project, error) {
	var out List[Project]
	if err := c.do(ctx, http.MethodGet, "/v1/admin/projects", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// RecoverProject makes the instance administrator a member of the project with every
// permission; anyone else gets 404, whether the project exists or not.
func (c *Client) RecoverProject(ctx context.Context, project string) (*Project, error) {
	var out Project
	if err := c.do(ctx, http.MethodPost, projectPath(project)+"/recover", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Members lists all of a project's members, by email, reading every page.
func (c *Client) Members(ctx context.Context, project string) ([]Member, error) {
	return all(ctx, func(ctx context.Context, opts ListOptions) (*Page[Member], error) {
		return c.MembersPage(ctx, project, opts)
	})
}

// MembersPage returns one page of a project's members, by email.
func (c *Client) MembersPage(ctx context.Context, project string, opts ListOptions) (*Page[Member], error) {
	var out Page[Member]
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/members", opts.query(), nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Cursor != "" {
		q.Set("cursor", o.Cursor)
	}
	if o.Search != "" {
		q.Set("q", o.Search)
	}
	return q
}

// maxPage is the largest page the server returns, which all asks for to make the fewest calls.
const maxPage = 1000

// all reads every page of a list, from the first.
func all[T any](ctx context.Context, page func(context.Context, ListOptions) (*Page[T], error)) ([]T, error) {
	opts := ListOptions{Limit: maxPage}
	var out []T
	for {
		p, err := page(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Data...)
		if p.Next == nil {
			return out, nil
		}
		opts.Cursor = *p.Next
	}
}

// PutMember adds a user (by id or email address) to a project or replaces their permissions.
func (c *Client) PutMember(ctx context.Context, project, user string, body PutMemberRequest) (*Member, error) {
	var out Member
	path := projectPath(project) + "/members/" + url.PathEscape(user)
	if err := c.do(ctx, http.MethodPut, path, nil, body, &out, http.StatusOK, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// RemoveMember removes a user (by id or email address) from a project.
func (c *Client) RemoveMember(ctx context.Context, project, user string) error {
	path := projectPath(project) + "/members/" + url.PathEscape(user)
	return c.do(ctx, http.MethodDelete, path, nil, nil, nil, http.StatusNoContent)
}

// Roles lists all of a project's roles, by name, reading every page.
func (c *Client) Roles(ctx context.Context, project string) ([]Role, error) {
	return all(ctx, func(ctx context.Context, opts ListOptions) (*Page[Role], error) {
		return c.RolesPage(ctx, project, opts)
	})
}

// RolesPage returns one page of a project's roles: by name, or, with a Search, the role of that
// id or the roles whose name begins with it.
func (c *Client) RolesPage(ctx context.Context, project string, opts ListOptions) (*Page[Role], error) {
	var out Page[Role]
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/roles", opts.query(), nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Role returns one role of a project, by name or id.
func (c *Client) Role(ctx context.Context, project, role string) (*Role, error) {
	var out Role
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/roles/"+url.PathEscape(role), nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateRole adds a role to a project.
func (c *Client) CreateRole(ctx context.Context, project string, req CreateRoleRequest) (*Role, error) {
	var out Role
	if err := c.do(ctx, http.MethodPost, projectPath(project)+"/roles", nil, req, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateRole edits a role (named by name or id) and returns it as it now is. The change applies
// to every member and key holding it; one that takes a permission away ends the sessions of
// those who now hold less, so resource servers refuse their old tokens within a second.
func (c *Client) UpdateRole(ctx context.Context, project, role string, req UpdateRoleRequest) (*Role, error) {
	var out Role
	if err := c.do(ctx, http.MethodPatch, projectPath(project)+"/roles/"+url.PathEscape(role), nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteRole deletes a role nobody holds.
func (c *Client) DeleteRole(ctx context.Context, project, role string) error {
	return c.do(ctx, http.MethodDelete, projectPath(project)+"/roles/"+url.PathEscape(role), nil, nil, nil, http.StatusNoContent)
}

// Keys lists all of a project's API keys, oldest first, without their secrets, reading every
// page.
func (c *Client) Keys(ctx context.Context, project string) ([]Key, error) {
	return all(ctx, func(ctx context.Context, opts ListOptions) (*Page[Key], error) {
		return c.KeysPage(ctx, project, opts)
	})
}

// KeysPage returns one page of a project's API keys, without their secrets: oldest first, or,
// with a Search, the key of that id or the keys whose name begins with it.
func (c *Client) KeysPage(ctx context.Context, project string, opts ListOptions) (*Page[Key], error) {
	var out Page[Key]
	if err := c.do(ctx, http.MethodGet, projectPath(project)+"/api-keys", opts.query(), nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Key returns one API key of a project, without its secret.
func (c *Client) Key(ctx context.Context, project, id string) (*Key, error) {
	var out Key
	path := projectPath(project) + "/api-keys/" + url.PathEscape(id)
	if err := c.do(ctx, http.MethodGet, path, nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateKey creates an API key. The answer's Secret is the key itself, shown this once.
func (c *Client) CreateKey(ctx context.Context, project string, req CreateKeyRequest) (*Key, error) {
	var out Key
	if err := c.do(ctx, http.MethodPost, projectPath(project)+"/api-keys", nil, req, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateKey edits an API key and returns it as it now is. An edit that narrows the key (a
// permission removed, an address no longer allowed, an expiry set or brought forward) revokes
// its sessions at once: a TokenSource of the key exchanges it again and carries the new rights.
func (c *Client) UpdateKey(ctx context.Context, project, id string, req UpdateKeyRequest) (*Key, error) {
	var out Key
	path := projectPath(project) + "/api-keys/" + url.PathEscape(id)
	if err := c.do(ctx, http.MethodPatch, path, nil, req, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RollKey gives an API key a new secret and returns the key with it (Secret, shown this once);
// the id and every setting stay. The previous secret keeps exchanging for grace (0 to 24 hours),
// then stops, and the sessions it started end. A key holding api-keys-roll-self may roll itself,
// so a program can replace its own key unattended: roll, store the new key, use it.
func (c *Client) RollKey(ctx context.Context, project, id string, grace time.Duration) (*Key, error) {
	var out Key
	path := projectPath(project) + "/api-keys/" + url.PathEscape(id) + "/roll"
	if err := c.do(ctx, http.MethodPost, path, nil, RollKeyRequest{Grace: grace.String()}, &out, http.StatusCreated); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteKey deletes an API key; every session of the key is revoked at once, and verifiers that
// follow the revocation feed refuse its tokens within a second.
func (c *Client) DeleteKey(ctx context.Context, project, id string) error {
	path := projectPath(project) + "/api-keys/" + url.PathEscape(id)
	return c.do(ctx, http.MethodDelete, path, nil, nil, nil, http.StatusNoContent)
}

// Audit returns one page of a project's audit log, newest first.
func (c *Client) Audit(ctx context.Context, project string, opts AuditOptions) (*AuditPage, error) {
	return c.auditPage(ctx, projectPath(project)+"/audit", opts)
}

// InstanceAudit returns one page of the instance's own audit log (sign-ins, failed sign-ins,
// users), newest first; only an instance administrator may read it.
func (c *Client) InstanceAudit(ctx context.Context, opts AuditOptions) (*AuditPage, error) {
	return c.auditPage(ctx, "/v1/audit", opts)
}

func (c *Client) auditPage(ctx context.Context, path string, opts AuditOptions) (*AuditPage, error) {
	q := url.Values{}
	if opts.Limit != 0 {
		q.Set("limit", strconv.Itoa(opts.Limit))
	}
	if opts.Before != "" {
		q.Set("before", opts.Before)
	}
	if opts.Search != "" {
		q.Set("q", opts.Search)
	}
	var out AuditPage
	if err := c.do(ctx, http.MethodGet, path, q, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// Revocations returns the revocation feed's entries after the cursor ("" or "0": from the
// start). It needs no token. Verifiers follow it as a stream; the middleware package does.
func (c *Client) Revocations(ctx context.Context, after string) (*RevocationPage, error) {
	q := url.Values{}
	if after != "" {
		q.Set("after", after)
	}
	var out RevocationPage
	if err := c.do(ctx, http.MethodGet, "/v1/revocations", q, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// OpenAPI returns the server's OpenAPI 3.1 document. It needs no token.
func (c *Client) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/openapi.json", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out, nil
}

func projectPath(project string) string {
	return "/v1/projects/" + url.PathEscape(project)
}

// do sends one request and decodes the answer into out when its status is one of want; any other
// status becomes a *Problem.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any, want ...int) error {
	base, err := serverURL(c.server)
	if err != nil {
		return err
	}
	u := base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("keyward: encoding the request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return fmt.Errorf("keyward: %s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.ts != nil {
		tok, err := c.ts.Token()
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("keyward: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAPIResponseBytes))
	if err != nil {
		return fmt.Errorf("keyward: %s %s: reading the response: %w", method, path, err)
	}
	for _, w := range want {
		if resp.StatusCode != w {
			continue
		}
		if out == nil || resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("keyward: %s %s: the response is not the expected JSON: %w", method, path, err)
		}
		return nil
	}
	return problemFrom(resp, data)
}

// problemFrom turns an error answer into a *Problem, also when something other than keyward (a
// proxy, a load balancer) answered without problem+json.
func problemFrom(resp *http.Response, data []byte) *Problem {
	p := &Problem{}
	if !isJSON(resp.Header.Get("Content-Type")) || json.Unmarshal(data, p) != nil {
		p = &Problem{Detail: strings.TrimSpace(string(truncate(data, 200)))}
	}
	if p.Status == 0 {
		p.Status = resp.StatusCode
	}
	if p.Title == "" {
		p.Title = http.StatusText(resp.StatusCode)
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	return p
}

func truncate(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	return b[:n]
}
